"""The escalation scheduler: fires due ladder steps from the store, on any clock.

Each pass asks the store for obligations whose next step is due; the pure ladder
(:mod:`router.domain.ladder`) decides what each does, and the store applies that in one transaction
with the step advance. Nothing is kept in memory between passes, so a restart recomputes
everything from the store and neither loses nor repeats a step. ``wake()`` starts a pass at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from router.domain.ladder import plan_due
from router.domain.obligation import OpenObligation
from router.metrics import Metrics
from router.plan.config import RoutingConfig
from router.store import NotificationRow, StepResult, Store
from router.worker import Runs, Worker

log = structlog.get_logger("warnroute.scheduler")
RETRY_AFTER_ERROR = 60.0


class Scheduler(Runs):
    def __init__(
        self,
        store: Store,
        config: RoutingConfig,
        metrics: Metrics,
        on_sends: Callable[[], None],
        clock: Callable[[], float] = time.time,
        poll_seconds: float = 1.0,
        batch: int = 1000,
    ) -> None:
        self.store, self.config, self.metrics, self.on_sends = store, config, metrics, on_sends
        self.clock, self.poll_seconds, self.batch = clock, poll_seconds, batch
        self._passed_at = 0.0  # the time of the last pass
        # A failed pass (the store unwell) is tried again at the next poll.
        self.worker = Worker(
            "scheduler", self._step, poll=poll_seconds, clock=clock, retry_after=lambda _: poll_seconds
        )

    async def _step(self) -> bool:
        """One pass; True when more is due at the pass's time already (a full batch, or warnings whose nearest
        step had passed held none due and the store set them right), so the next pass follows at once. A pass
        leaves every step it fires later than its time, so each pass that follows has something new to do."""
        stepped = await self.pass_once()
        if stepped >= self.batch:
            return True
        due = await self.store.next_due()
        return due is not None and due <= self._passed_at

    async def pass_once(self) -> int:
        """One pass over what is due now; returns how many obligations it stepped."""
        now = self._passed_at = self.clock()
        due = await self.store.next_due()
        if due is None or due > now:
            return 0
        results = await self.store.fire_due(now, self.batch, lambda due: self.decide(due, now))
        sends = 0
        for r in results:
            sends += len(r.sends)
            for kind, detail in r.events:
                if kind == "escalated":
                    self.metrics.escalations.labels(detail["what"]).inc()
                elif kind == "breached":
                    self.metrics.breaches.labels(detail["kind"]).inc()
                    log.warning("obligation_breached", **detail)
        if sends:
            self.on_sends()
        return len(results)

    def decide(self, due: OpenObligation, now: float) -> StepResult:
        """What a due obligation does now (pure, but guarded: one bad row must not stall the rest)."""
        try:
            effects = plan_due(self.config.ladders, due, now)
        except Exception as exc:
            log.exception("scheduler_step_failed", obligation=due.id)
            detail = {"error": f"{type(exc).__name__}: {exc}", "step": due.next_step}
            return StepResult(
                due.seq, (), (("step_failed", detail),), False, False, due.next_step, now + RETRY_AFTER_ERROR
            )
        sends = tuple(
            NotificationRow(
                s.id,
                due.id,
                s.channel,
                now,
                0,
                s.purpose,
                s.department if s.purpose != "action" else None,
                s.jurisdiction if s.purpose != "action" else None,
            )
            for s in effects.sends
        )
        events = tuple(
            (
                "breached" if f.what == "breach" else "escalated",
                {
                    "step": f.step,
                    "what": f.what,
                    "outcome": f.outcome,
                    "department": due.department,
                    "jurisdiction": due.jurisdiction,
                    "kind": due.kind,
                },
            )
            for f in effects.fired
        )
        return StepResult(
            due.seq, sends, events, effects.escalated, effects.breached, effects.next_step, effects.next_at
        )
