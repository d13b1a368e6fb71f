"""Acknowledgements and receipts, whichever way they come in: the API, a signed link, an SMS reply, a
voice keypress, a Kafka record, a gateway's receipt.

Each way in says which obligation, how and by whom; this service checks what that way needs (a department
acknowledges only its own obligations, the duty office only on someone's behalf and with a reason, an SMS
reply only from the number the obligation's SMS went to, a Kafka record only for its own department), the
store applies :func:`router.domain.obligation.transition` (which also decides that a phone report is done
only by keypress or the duty office), and every acknowledgement is counted here, once. Refusals are
:class:`router.errors.Refused` subclasses; the edges map them to answers by type.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from router.access.acklinks import reply_code
from router.access.roles import Principal, ack_denied
from router.domain.channels import CONFIRM_KEY
from router.domain.obligation import DOABLE_KINDS
from router.errors import Conflict, Forbidden, InvalidRequest, NotFound
from router.metrics import Metrics
from router.plan.config import RoutingConfig
from router.plan.secrets import SecretResolver
from router.store import AckResult, SqlStore

NOT_YOURS = "a department acknowledges only its own obligations"
DELIVERED_STATUSES = ("delivered", "answered")


class Acknowledgements:
    def __init__(
        self,
        store: SqlStore,
        config: RoutingConfig,
        secrets: SecretResolver,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.config, self.secrets, self.metrics, self.clock = store, config, secrets, metrics, clock

    async def by_principal(
        self, principal: Principal, obligation_id: str, by: str, on_behalf: bool, reason: str | None
    ) -> AckResult:
        """The API: a department for itself, or the duty office on its behalf with a reason."""
        await self._own(principal, obligation_id, on_behalf, reason, "acknowledges")
        method = "duty_office" if on_behalf else "api"
        return _settled(await self.apply(obligation_id, method, by, reason=reason, principal=principal.id))

    async def _own(
        self, principal: Principal, obligation_id: str, on_behalf: bool, reason: str | None, doing: str
    ) -> dict[str, Any]:
        """The obligation, if ``principal`` may act on it (a department on its own; the duty office on its behalf,
        with a reason); else the refusal naming its field."""
        if on_behalf and not (reason or "").strip():
            verb = "acknowledging" if doing == "acknowledges" else "reporting"
            raise InvalidRequest("reason", f"the duty office must give a reason when {verb} for someone")
        found = await self.store.get_obligation(obligation_id)
        if found is None:
            raise NotFound("obligation", f"no obligation {obligation_id!r}")
        problem = ack_denied(principal, found["jurisdiction"], found["department"], on_behalf)
        if problem is not None:
            raise Forbidden("obligation", problem.replace("acknowledges", doing))
        return found

    async def done_by_principal(
        self,
        principal: Principal,
        obligation_id: str,
        by: str,
        figures: dict[str, float],
        on_behalf: bool,
        reason: str | None,
    ) -> AckResult:
        """A task reported done with its figures: by its department, or by the duty office on its behalf with a
        reason. Only what asks for something to be done (``DOABLE_KINDS``) can be done; repeating it changes
        nothing."""
        found = await self._own(principal, obligation_id, on_behalf, reason, "reports done")
        kind = found["action"]["kind"]
        if kind not in DOABLE_KINDS:
            raise InvalidRequest("obligation", f"a {kind} obligation asks nothing to be done: acknowledge it")
        result = await self.store.report_done(obligation_id, by, figures, self.clock(), reason, principal.id)
        if result.status == "acknowledged":
            self.metrics.acknowledgements.labels("done").inc()
        return _settled(result)

    async def by_link(self, obligation_id: str, by: str) -> AckResult:
        """A signed one-click link (its signature is checked at the edge, which has the request)."""
        return await self.apply(obligation_id, "link", (by.strip() or "link")[:100])

    async def by_sms_reply(self, sender: str, text: str) -> AckResult:
        """A reply such as "确认 1234" acknowledges obligation 1234, if it comes from the number that
        obligation's SMS went to."""
        code = reply_code(text)
        if code is None:
            raise InvalidRequest("text", "the reply names no obligation number (expected e.g. 确认 1234)")
        found = await self.store.get_obligation(seq=code)
        refs = self.config.contacts.get((found["jurisdiction"], found["department"], "sms")) if found else None
        try:
            to = self.secrets.resolve_all(refs).get("to") if refs else None
        except Exception:
            to = None
        if found is None or to is None or _digits(to) != _digits(sender):
            raise NotFound("text", f"no obligation {code} was sent to this number")
        return _settled(await self.apply(found["id"], "sms_reply", _masked(sender)))

    async def by_record(self, obligation_id: str, jurisdiction: str, department: str, by: str, at: float) -> AckResult:
        """A Kafka acknowledgement record, timed by the broker, for the department's own obligation only."""
        found = await self.store.get_obligation(obligation_id)
        if found is None:
            raise NotFound("obligation_id", f"no obligation {obligation_id[:80]!r}")
        if (found["jurisdiction"], found["department"]) != (jurisdiction, department):
            raise Forbidden("obligation_id", NOT_YOURS)
        return await self.apply(obligation_id, "kafka", by[:200], at=min(at, self.clock()))

    async def apply(
        self,
        obligation_id: str,
        method: str,
        by: str,
        *,
        reason: str | None = None,
        principal: str | None = None,
        at: float | None = None,
    ) -> AckResult:
        """Acknowledge (the store applies the domain's transition); repeating it changes nothing."""
        result = await self.store.acknowledge(
            obligation_id, method, by, self.clock() if at is None else at, reason, principal
        )
        if result.status == "acknowledged":
            self.metrics.acknowledgements.labels(method).inc()
        return result

    async def receipt(self, channel: str, provider_id: str, status: str, keypress: str = "") -> bool:
        """A gateway's delivery receipt; a voice call answered with the confirm key is a person confirming
        (the store acknowledges the phone report in the same transaction). True when it matched a sent
        notification; an unmatched receipt is kept, since it may have overtaken the send outcome."""
        delivered = status in DELIVERED_STATUSES
        confirmed = channel == "voice" and delivered and keypress == CONFIRM_KEY
        now = self.clock()
        issued = await self.store.record_receipt(channel, provider_id, delivered, now, confirmed)
        if delivered:
            self.metrics.attempts.labels(channel, "delivered").inc()
            if issued is not None:
                self.metrics.issue_to_delivered.labels(channel).observe(
                    max(now - datetime.fromisoformat(issued).timestamp(), 0.0)
                )
        return issued is not None


def _settled(result: AckResult) -> AckResult:
    """The answer of a way in that reports refusals as errors (the API, SMS replies)."""
    if result.status == "not_found":
        raise NotFound("obligation", result.problem)
    if result.status in ("closed", "refused"):
        raise Conflict("obligation", result.problem, kind=result.status)
    return result


def _digits(number: str) -> str:
    digits = "".join(c for c in number if c.isascii() and c.isdigit())
    return digits[-11:]


def _masked(number: str) -> str:
    d = _digits(number)
    return f"sms:{d[:3]}****{d[-4:]}" if len(d) >= 7 else "sms"
