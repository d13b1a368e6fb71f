"""The dispatcher: works the notification outbox in the store, delivering by destination (DESIGN §12).

Loop: claim due notifications (a lease, so a crash makes them due again), group them by destination
(one channel address), send each destination one message carrying what is due for it through its
channel handler, with a per-call timeout and a concurrency bound per channel, and record an outcome per
notification in batches. Retry delays come from the one ``RetryPolicy``; handlers never retry. ``wake()`` starts
a pass at once (called after an ingest commits); otherwise it polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal
from urllib.parse import quote

import structlog

from router.access.acklinks import AckSigner
from router.delivery import coalesce, render
from router.delivery.budget import Budgets
from router.delivery.retry import RetryPolicy
from router.domain.channels import COALESCED_KINDS, MARKDOWN_KINDS
from router.errors import DeliveryError, PermanentDeliveryError, RateLimited
from router.handlers.base import ChannelHandler, Outbound, SendResult
from router.metrics import Metrics
from router.plan.config import RoutingConfig
from router.plan.secrets import SecretResolver
from router.store import ClaimedNotification, NotificationOutcome, Store
from router.worker import Runs, Worker

log = structlog.get_logger("warnroute.dispatcher")
CST = timezone(timedelta(hours=8))
LEAD = "dispatcher"  # on a shared database one instance at a time sends: each provider's windows are counted once


@dataclass(frozen=True)
class DispatchSettings:
    batch: int = 200  # claimed in one pass and taken together (what is due for one destination: one message)
    chunk: int = 50  # claimed per write transaction: ingest's transactions get in between a pass's claims
    lease_seconds: float = 60.0
    poll_seconds: float = 0.5
    call_timeout: float = 10.0
    per_channel_concurrency: int = 10
    max_in_flight: int = 32
    callback_base: str | None = None
    receipt_token: str | None = field(default=None, repr=False)  # put in the callback URL gateways are given


class Dispatcher(Runs):
    def __init__(
        self,
        store: Store,
        config: RoutingConfig,
        handlers: Mapping[str, ChannelHandler],
        secrets: SecretResolver,
        metrics: Metrics,
        retry: RetryPolicy | None = None,
        settings: DispatchSettings | None = None,
        clock: Callable[[], float] = time.time,
        ack: AckSigner | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self.store, self.config, self.handlers, self.ack = store, config, handlers, ack
        self.budgets = budgets or Budgets()
        self._closed: dict[tuple[str, str], tuple[float, str]] = {}  # destination → (reopens at, why)
        self._busy: dict[Hashable, Busy] = {}  # destinations with sends in flight, and what waits for them
        self._queued = 0
        settings = settings or DispatchSettings()
        self.secrets, self.metrics, self.settings, self.clock = secrets, metrics, settings, clock
        self.retry = retry or RetryPolicy()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._per_channel = {kind: asyncio.Semaphore(settings.per_channel_concurrency) for kind in handlers}
        self._outcomes: list[NotificationOutcome] = []
        self._flushed = asyncio.Event()
        self.started = asyncio.Event()  # set once it takes work: the windows counted, the hand-over registered
        self.leads = False  # this instance sends (alone on its database: from the start)
        self._deposed = False  # it led and another instance leads now: it sends nothing more
        # A failed claim (a database restarting) is tried again at the next poll, not after a backoff.
        self.worker = Worker("dispatcher", self._claim, poll=settings.poll_seconds, clock=clock, retry_after=self._poll)
        token = settings.receipt_token
        self._callback_query = f"?token={quote(token)}" if token else ""
        if token:
            secrets.register(token)

    def _poll(self, _failures: int) -> float:
        return self.settings.poll_seconds

    async def count_recent_sends(self) -> int:
        """Count what was sent within the longest window into the budgets (a restart must not forget a window the
        providers still hold): each send's destination resolved from the contacts as when it was sent."""
        channels = sorted(self.budgets.limits)
        now = self.clock()
        counted = 0
        seen: set[tuple[str, str, float]] = set()  # a message carrying several: one send to its destination
        for channel, department, jurisdiction, at in await self.store.recent_sends(now - self.budgets.span(), channels):
            refs = self.config.contacts.get((jurisdiction, department, channel))
            if refs is None:
                continue
            try:
                contact = self.secrets.resolve_all(refs)
            except Exception:  # a reference no longer set: nothing can be sent there either
                continue
            where = (channel, address_of(contact, department), at)
            if where in seen:
                continue
            seen.add(where)
            self.budgets.spend(channel, where[1], at)
            counted += 1
        return counted

    async def run(self) -> None:
        with contextlib.suppress(Exception):  # a store that is not there yet: counted when it is
            await self._lead()
        if not self.leads:
            log.info("dispatcher_stands_by", why="another instance sends, or the store is not there yet")
        self.store.hand_over(self.settings.lease_seconds, self._take)
        self.started.set()
        flusher = asyncio.create_task(self._flush_loop(), name="dispatcher-flush")
        try:
            await self.worker.run()
        finally:
            self.store.hand_over(self.settings.lease_seconds, None)  # what comes in now waits for the next start
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=self.settings.call_timeout + 1)
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            # Bounded: a store that is already gone must not hang the shutdown; unrecorded outcomes
            # are safe (their leases expire and the same idempotency keys are sent again).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._flush()), 5)

    async def _claim(self) -> bool:
        """Claim a batch of what is due while there is room in flight (messages, each carrying what is due for
        its destination); True when it claimed any (claim again now).

        A pass claims in chunks (``DispatchSettings.chunk``), each its own short write transaction, so a
        warning coming in waits for one chunk's claim, not for the whole pass's; what the pass claimed is
        then taken together, grouped by destination: an idle destination is sent to at once, one message
        carrying everything due for it; what is due for a destination while a send to it is in flight
        joins the next message to it, sent when that send ends (never a fixed wait). A §4.3 direct or
        phone report never waits behind another send: it goes at once, in a message of its own.
        """
        if not await self._lead():
            return False
        room = self.settings.max_in_flight - len(self._in_flight)
        claimed: list[ClaimedNotification] = []
        while room > 0 and self._queued < QUEUED_MAX and len(claimed) < self.settings.batch:
            want = min(self.settings.chunk, self.settings.batch - len(claimed))
            try:
                got = await self.store.claim_notifications(self.clock(), want, self.settings.lease_seconds)
            except Exception:  # what the pass has leased already goes now, not when its lease runs out
                if claimed:
                    self._take(claimed)
                raise
            claimed += got
            if len(got) < want:
                break
        self.metrics.outbox_depth.set(len(claimed))
        if not claimed:
            return False
        self._take(claimed)
        return True

    async def _lead(self) -> bool:
        """Whether this instance sends now. On a database shared by several instances, one at a time does
        (the store's ``lead``): every instance counting a provider's windows for itself would let them
        together exceed the limits. Taking the lead (at the start, or when the instance that led is gone),
        it counts the windows again from what the store says was sent, whoever sent it, before it claims."""
        leads = await self.store.lead(LEAD)
        if leads and not self.leads:
            self.budgets.forget()
            counted = await self.count_recent_sends()
            log.info("dispatcher_leads", sends_counted=counted)
        lost = self.leads and not leads
        self.leads, self._deposed = leads, not leads and (self._deposed or lost)
        self.metrics.dispatcher_leads.set(1 if leads else 0)
        if lost:
            await self._stand_down()
        return leads

    async def _stand_down(self) -> None:
        """The lead passed to another instance (this one's connection to the database ended, say): what this one
        held for its destinations' next messages is given back at once for the one that leads now, which counts
        the windows from what is stored; sending it here too would let the two together pass a provider's
        limit. A send already under way ends as it will; a message it was to be followed by is given back."""
        held = [c for busy in self._busy.values() for c, _ in busy.queue]
        for busy in self._busy.values():
            busy.queue = []
        self._queued -= len(held)
        log.warning("dispatcher_stands_by", why="another instance sends", given_back=len(held))
        await self._give_back(held)

    async def _give_back(self, claims: list[ClaimedNotification]) -> None:
        """Release ``claims`` to whichever instance claims next; if the store cannot take that now, their
        leases run out and they are due again all the same."""
        if not claims:
            return
        try:
            await self.store.release([c.id for c in claims])
        except Exception as exc:
            log.warning("give_back_failed", count=len(claims), error=type(exc).__name__)

    def _take(self, claimed: list[ClaimedNotification]) -> None:
        """Send what was claimed, or what ingest handed over (``Store.hand_over``: a new warning's §4.3
        reports, leased in its own transaction and taken here the moment it commits, waiting for no claim)."""
        now = self.clock()
        self.metrics.dispatcher_lag.set(max(0.0, now - min(c.due for c in claimed)))
        groups: dict[Hashable, list[Item]] = {}
        for c in sorted(claimed, key=order):  # most urgent first, in every message too
            try:
                outbound = self._outbound(c)
            except DeliveryError as exc:
                self._failed([c], exc, now)
                continue
            except Exception as exc:  # a contact that cannot be resolved: its lease makes it due again
                log.bind(notification=c.id).exception("delivery_crashed", error=type(exc).__name__)
                continue
            groups.setdefault(destination_key(outbound), []).append((c, outbound))
        for key, items in groups.items():
            busy = self._busy.get(key)
            if busy is None:
                self._busy[key] = busy = Busy()
                self._launch(key, items)
                continue
            at_once = [i for i in items if never_waits(i[0])]
            later = [i for i in items if not never_waits(i[0])]
            busy.queue += later
            self._queued += len(later)
            if at_once:
                self._launch(key, at_once)

    def _launch(self, key: Hashable, items: list[Item]) -> None:
        self._busy[key].flights += 1
        task = asyncio.create_task(self._send_all(key, items))
        self._in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.worker.wake()  # room for more: claim again now rather than at the next poll

    async def _send_all(self, key: Hashable, items: list[Item]) -> None:
        """Send ``items`` to their destination, split at its size limit; then what queued meanwhile."""
        try:
            by_id = {o.id: c for c, o in items}
            for part in coalesce.split(items[0][1].channel, [o for _, o in items]):
                await self._deliver([(by_id[o.id], o) for o in part])
        finally:
            busy = self._busy[key]
            busy.flights -= 1
            if busy.queue:
                queued, busy.queue = sorted(busy.queue, key=lambda i: order(i[0])), []
                self._queued -= len(queued)
                self._launch(key, queued)
            elif not busy.flights:
                del self._busy[key]

    async def _deliver(self, items: list[Item]) -> None:
        """One message to one destination carrying ``items``; an outcome per notification it carries."""
        claims = [c for c, _ in items]
        outbound = coalesce.combine([o for _, o in items])
        channel = outbound.channel
        about = {
            "notification": outbound.id,
            "carried": len(claims),
            "department": outbound.department,
            "jurisdiction": outbound.jurisdiction,
            "channel": channel,
        }
        if self._deposed:  # another instance leads now: it sends this (``_stand_down``)
            await self._give_back(claims)
            return
        now = self.clock()
        destination = (channel, address(outbound))
        if self._held(claims, destination, now):
            return
        try:
            result = await self._send(outbound, destination[1], now)
        except RateLimited as exc:  # the provider's window is closed: wait for it, never count it as failed
            reason = self.secrets.redact(str(exc))
            self._closed[destination] = (now + exc.wait, reason)
            for c in claims:
                self._hold(c, now, exc.wait, reason, "provider", attempted=True)
            log.warning("delivery_over_limit", reason=reason, wait=round(exc.wait, 1), **about)
            return
        except (DeliveryError, TimeoutError) as exc:
            self._failed(claims, exc, now)
            return
        except Exception as exc:  # a handler bug must not kill the dispatcher; the lease makes it due again
            log.exception("delivery_crashed", error=type(exc).__name__, **about)
            return
        self._taken(claims, channel, result)
        log.info("delivery_" + ("delivered" if result.delivered else "sent"), provider_id=result.provider_id, **about)

    async def _send(self, outbound: Outbound, address: str, now: float) -> SendResult:
        """Send one message through its channel's handler, counted against its destination's budget from when it
        began until it ended (``Budgets.settle``: the provider counted it when it arrived, in between)."""
        channel = outbound.channel
        handler = self.handlers.get(channel)
        if handler is None:
            raise PermanentDeliveryError(f"channel {channel} has no provider configured")
        self.budgets.spend(channel, address, now)
        try:
            async with self._per_channel[channel], asyncio.timeout(self.settings.call_timeout):
                return await handler.send(outbound)
        finally:
            self.budgets.settle(channel, address, now, self.clock())

    def _taken(self, claims: list[ClaimedNotification], channel: str, result: SendResult) -> None:
        """A message the provider took: an outcome per notification it carried, and the times from issue."""
        done = self.clock()
        state: Literal["sent", "delivered"] = "delivered" if result.delivered else "sent"
        carried = "1" if len(claims) == 1 else "2-9" if len(claims) < 10 else "10+"
        self.metrics.messages.labels(channel, carried).inc()
        self.metrics.attempts.labels(channel, state).inc(len(claims))
        to_sent = self.metrics.issue_to_sent.labels(channel)
        to_delivered = self.metrics.issue_to_delivered.labels(channel) if result.delivered else None
        issued: dict[str, float] = {}  # the notifications of one warning share its time of issue
        for c in claims:
            self._record(NotificationOutcome(c.id, state, done, result.provider_id, owner=_owner(c)))
            if c.purpose == "report":
                continue
            at = c.warning["issued_at"]
            when = issued.get(at)
            if when is None:
                when = issued[at] = datetime.fromisoformat(at).timestamp()
            since = max(done - when, 0)
            to_sent.observe(since)
            if to_delivered is not None:
                to_delivered.observe(since)

    def _failed(self, claims: list[ClaimedNotification], exc: DeliveryError | TimeoutError, now: float) -> None:
        """A message that failed: each notification it carried is tried again together, at one time (so
        they are claimed and carried together again), or has failed when no try is left before its deadline."""
        retryable = isinstance(exc, TimeoutError) or exc.retryable
        reason = self.secrets.redact(str(exc) or "timed out")
        attempts = max(c.attempts for c in claims) + 1
        at = now + self.retry.delay(attempts)
        for c in claims:
            bound = log.bind(notification=c.id, department=c.department, jurisdiction=c.jurisdiction, channel=c.channel)
            again, why = retryable, reason
            if again and c.purpose == "action" and now < c.deadline <= at:  # no time left to try again
                why = f"{reason}; the next try would be after the deadline: on to the next channel"
                again = False
            if again and not self.retry.gives_up(c.attempts + 1):
                self._record(NotificationOutcome(c.id, "retry", now, error=why, next_attempt_at=at))
                self.metrics.attempts.labels(c.channel, "retry").inc()
                if c.attempts == 0:
                    bound.warning("delivery_retrying", reason=why)
            else:
                self._record(NotificationOutcome(c.id, "failed", now, error=why, owner=_owner(c)))
                self.metrics.attempts.labels(c.channel, "failed").inc()
                bound.error("delivery_failed", reason=why, attempts=c.attempts + 1)

    def _held(self, claims: list[ClaimedNotification], destination: tuple[str, str], now: float) -> bool:
        """Whether the destination's window is closed (the provider said so, or the budget is spent for
        this message's urgency: its most urgent notification's); if so its notifications wait for it (or
        their ladders move on)."""
        channel = destination[0]
        closed, why = self._closed.get(destination, (0.0, ""))
        if closed > now:
            for c in claims:
                self._hold(c, now, closed - now, f"waiting for the provider's window: {why}", "provider")
            return True
        wait, limit = self.budgets.wait(channel, destination[1], any(urgent(c) for c in claims), now)
        if wait <= 0:
            return False
        for c in claims:
            self._hold(c, now, wait, f"waiting for the destination's budget ({channel}: {limit})", "budget")
        return True

    def _hold(
        self, c: ClaimedNotification, now: float, wait: float, reason: str, why: str, attempted: bool = False
    ) -> None:
        """Not sent now: again when the window reopens; or, when that is after the obligation's deadline,
        failed with the reason so that its ladder takes the next channel at once."""
        at = now + wait
        if c.purpose == "action" and now < c.deadline <= at:
            when = datetime.fromtimestamp(at, UTC).astimezone(CST).strftime("%H:%M:%S")
            reason = f"{reason}; it reopens at {when}, after the deadline: on to the next channel"
            self._record(NotificationOutcome(c.id, "failed", now, error=reason, owner=_owner(c), attempted=attempted))
            self.metrics.budget_waits.labels(c.channel, "moved_on").inc()
            return
        self._record(NotificationOutcome(c.id, "wait", now, error=reason, next_attempt_at=at))
        self.metrics.budget_waits.labels(c.channel, why).inc()

    def _outbound(self, c: ClaimedNotification) -> Outbound:
        refs = self.config.contacts.get((c.jurisdiction, c.department, c.channel))
        if refs is None:
            raise PermanentDeliveryError(f"{c.department}@{c.jurisdiction} has no {c.channel} contact")
        short = c.channel in ("sms", "voice")
        callback = (
            f"{self.settings.callback_base}/api/v1/receipts/{c.channel}{self._callback_query}"
            if self.settings.callback_base and c.channel in ("sms", "voice")
            else None
        )
        if c.purpose == "report" and c.report is not None:
            filer = self._name(*c.about)
            clauses = list(c.action["clauses"])
            return Outbound(
                id=c.id,
                channel=c.channel,
                department=c.department,
                jurisdiction=c.jurisdiction,
                title=render.report_title(c.report, filer, clauses[0]),
                text=render.report_text(c.report, filer, clauses, short=short, markdown=c.channel in MARKDOWN_KINDS),
                payload=render.report_payload(c.report, clauses),
                drill=False,
                contact=self.secrets.resolve_all(refs),
                callback_url=callback,
            )
        payload = render.payload(c.warning, c.action, c.obligation_id, c.drill)
        if c.purpose == "escalation":
            about_dept, about_juris = c.about
            about = f"{self._name(about_dept, about_juris)}"
            deadline = datetime.fromtimestamp(c.deadline, UTC).astimezone(CST).strftime("%H:%M")
            title = render.escalation_title(c.action, about, c.drill)
            text = render.escalation_text(c.warning, c.action, about, deadline, c.drill)
            payload = {**payload, "escalation": {"department": about_dept, "jurisdiction": about_juris}}
        else:
            link = self.ack.link(c.obligation_id, self.clock()) if self.ack is not None else None
            title = render.title(c.warning, c.action, c.drill)
            text = render.text(c.warning, c.action, c.drill, short=short)
            text += render.acknowledge_hint(link, c.obligation_seq, c.channel)
            if link is not None:
                payload = {**payload, "ack_url": link}
        return Outbound(
            id=c.id,
            channel=c.channel,
            department=c.department,
            jurisdiction=c.jurisdiction,
            title=title,
            text=text,
            payload=payload,
            drill=c.drill,
            contact=self.secrets.resolve_all(refs),
            callback_url=callback,
        )

    def _name(self, department: str, jurisdiction: str) -> str:
        dept = self.config.departments.get(department)
        juris = self.config.jurisdictions.get(jurisdiction)
        return f"{juris.zh if juris else jurisdiction}{dept.zh if dept else department}"

    def _record(self, outcome: NotificationOutcome) -> None:
        self._outcomes.append(outcome)
        if len(self._outcomes) >= 200:
            self._flushed.set()

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed.wait(), 0.02)
            self._flushed.clear()
            await self._flush()

    async def _flush(self) -> None:
        if not self._outcomes:
            return
        batch, self._outcomes = self._outcomes, []
        try:
            await self.store.record_outcomes(batch)
        except Exception:
            # Not recorded: the leases expire and those notifications are sent again, with the same
            # idempotency keys, so receivers see each one once.
            log.exception("outcomes_not_recorded", count=len(batch))


def _owner(c: ClaimedNotification) -> tuple[str, str, str, str]:
    return (str(c.warning.get("id", "")), c.obligation_id, c.channel, c.purpose)


QUEUED_MAX = 5000  # notifications waiting behind sends in flight: claim no more while this many wait
Item = tuple[ClaimedNotification, Outbound]


@dataclass
class Busy:
    """A destination with sends in flight, and what came due for it meanwhile (its next message)."""

    flights: int = 0
    queue: list[Item] = field(default_factory=list)


def destination_key(outbound: Outbound) -> Hashable:
    """What makes notifications one message: one channel, one resolved contact (URL and secret, number,
    mailbox). A voice call is never shared: each is its own."""
    if outbound.channel not in COALESCED_KINDS:
        return (outbound.channel, outbound.id)
    return (outbound.channel, tuple(sorted(outbound.contact.items())))


def never_waits(c: ClaimedNotification) -> bool:
    """A §4.3 direct or phone report: nothing of warnroute's own may delay it (DESIGN §4 rule 1)."""
    return c.purpose == "action" and c.action.get("kind") in URGENT_KINDS


def order(c: ClaimedNotification) -> tuple[bool, bool, float, float]:
    """Most urgent first: §4.3 reports, then urgent traffic, then by deadline and by when it came due."""
    return (not never_waits(c), not urgent(c), c.deadline, c.due)


URGENT_COLOURS = frozenset({"orange", "red"})
URGENT_LEVELS = frozenset({"I", "II"})
URGENT_KINDS = frozenset({"direct_report", "phone_report"})


def urgent(c: ClaimedNotification) -> bool:
    """Traffic the budgets' reserve is kept for: orange and red signals, Level Ⅰ and Ⅱ reports, §4.3
    direct and phone reports, and the duty office's escalations."""
    w = c.warning
    return (
        c.purpose == "escalation"
        or bool(c.action.get("urgent"))  # a report of people dead, missing or injured
        or w.get("severity") in URGENT_COLOURS
        or w.get("level") in URGENT_LEVELS
        or c.action.get("kind") in URGENT_KINDS
    )


def address(outbound: Outbound) -> str:
    """The destination a provider limits: the robot's URL or the phone number (or mailbox)."""
    return address_of(outbound.contact, outbound.department)


def address_of(contact: Mapping[str, str], department: str) -> str:
    return str(contact.get("url") or contact.get("to") or contact.get("address") or department)
