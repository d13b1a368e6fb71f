"""The acknowledgement consumer: departments acknowledge obligations by a record on the acknowledgement topic.

A record is JSON ``{"obligation_id", "jurisdiction", "department", "by"}`` (the action record's
``acknowledge.record`` plus who). It must name the department and jurisdiction the obligation
belongs to (write access to the topic is the deployment's Kafka ACLs; the record cannot
acknowledge another department's obligation). It is acknowledged as of the record's timestamp,
by method ``kafka``; repeats change nothing. Offsets are committed after the batch is stored (a
store failure commits nothing; the batch is taken again, and what was stored is a repeat).
Records that cannot be used are counted, audited as refusals and logged with the reason.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import structlog
from aiokafka import ConsumerRecord

from router.access.gate import Gate
from router.errors import Forbidden, Refused
from router.metrics import Metrics
from router.obligations.acks import NOT_YOURS, Acknowledgements
from router.stream.batches import BatchConsumer
from router.stream.settings import KafkaSettings

log = structlog.get_logger("warnroute.kafka")


class AckConsumer(BatchConsumer):
    def __init__(self, settings: KafkaSettings, acks: Acknowledgements, gate: Gate, metrics: Metrics) -> None:
        super().__init__(settings, settings.ack_topic, settings.group + ".acks", "kafka_acks")
        self.acks, self.gate, self.metrics = acks, gate, metrics

    async def _one(self, record: ConsumerRecord[bytes, bytes]) -> None:
        result, reason = await self._acknowledge(record)
        self.metrics.kafka_acks.labels(result).inc()
        where = f"{record.topic}/{record.partition}/{record.offset}"
        if reason == NOT_YOURS:
            await self.gate.record_refusal("kafka", "KAFKA", where, reason, 403)
        elif result not in ("acknowledged", "already"):
            log.warning("kafka_ack_not_taken", source=where, result=result, reason=reason)

    async def _acknowledge(self, record: ConsumerRecord[bytes, bytes]) -> tuple[str, str]:
        """(result, why): the store's answer, or why the record could not be used."""
        try:
            body: Any = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError:
            return "invalid", "the record is not JSON"
        fields = ("obligation_id", "jurisdiction", "department", "by")
        if not isinstance(body, dict) or not all(isinstance(body.get(f), str) and body[f] for f in fields):
            return "invalid", "obligation_id, jurisdiction, department and by are required strings"
        at = record.timestamp / 1000 if record.timestamp else time.time()
        try:
            result = await self.acks.by_record(
                body["obligation_id"], body["jurisdiction"], body["department"], body["by"], at
            )
        except Forbidden as exc:
            return "refused", exc.problem
        except Refused as exc:
            return exc.kind, exc.problem
        return result.status, result.problem
