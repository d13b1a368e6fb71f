"""The report consumer: situation reports (DESIGN §13) from the report topic, filed as over HTTP.

A record's value is a report (``warnroute.report/1``). Outside dev mode it carries
``x-warnroute-principal`` (the filing office's token id: a department, a government or the duty office,
with a signing key), ``x-warnroute-timestamp`` and ``x-warnroute-signature`` (the HMAC of HTTP ingest;
the replay window is measured against the broker's append time), and the same roles apply as over HTTP.
A record that cannot be filed (bad input, an office it may not file for, a bad signature, an id used for
another report) goes to the dead-letter topic with its bytes and headers plus ``warnroute-kind``,
``warnroute-field``, ``warnroute-reason`` and ``warnroute-source``; the records behind it carry on.
Offsets are committed after the batch is filed or dead-lettered; a failure before that (the store, the
dead-letter topic) commits nothing and the batch is taken again (what was filed comes back a duplicate).
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer, ConsumerRecord

from router.access.gate import Gate
from router.access.roles import DEV
from router.errors import Refused
from router.metrics import Metrics
from router.reports.service import Reports, parse_report
from router.stream.batches import BatchConsumer
from router.stream.ingest import Rejected, dead_letter, signed_by
from router.stream.settings import KafkaSettings


class ReportConsumer(BatchConsumer):
    def __init__(
        self, settings: KafkaSettings, reports: Reports, producer: AIOKafkaProducer, gate: Gate, metrics: Metrics
    ) -> None:
        super().__init__(settings, settings.report_topic, settings.group + ".reports", "kafka_reports")
        self.reports, self.producer, self.gate, self.metrics = reports, producer, gate, metrics

    async def _one(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            await self._file(record)
            self.metrics.kafka_reports.labels("filed").inc()
        except Rejected as rejected:
            await dead_letter(self.producer, self.settings.dead_letter_topic, record, rejected, self.metrics)
            self.metrics.kafka_reports.labels("dead_lettered").inc()

    async def _file(self, record: ConsumerRecord[bytes, bytes]) -> None:
        body = record.value
        if not body:
            raise Rejected("invalid", "value", "the record has no value")
        principal = (
            DEV if self.gate.dev else await signed_by(self.gate, record, body, "x-warnroute-principal", "principal")
        )
        try:
            report = parse_report(body)
            await self.reports.file(principal, report)
        except Refused as exc:
            raise Rejected(exc.kind, exc.field, exc.problem) from exc
