"""The topics Kafka mode uses, created (when missing) by the admin client from the configuration."""

from __future__ import annotations

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from router.plan.config import RoutingConfig
from router.stream.settings import KafkaSettings

log = structlog.get_logger("warnroute.kafka")
ALREADY_EXISTS = 36


def wanted(settings: KafkaSettings, config: RoutingConfig) -> dict[str, dict[str, str]]:
    """Topic name → topic configs: ingest, dead letters, acknowledgements, situation reports and one action
    topic per department.

    The ingest and acknowledgement topics stamp records with the broker's append time: a signed
    warning's timestamp is checked against it, and an acknowledgement counts from it (a client cannot
    choose it, and a backlog after an outage stays valid).
    """
    topics: dict[str, dict[str, str]] = {
        settings.ingest_topic: {"message.timestamp.type": "LogAppendTime"},
        settings.dead_letter_topic: {},
        settings.ack_topic: {"message.timestamp.type": "LogAppendTime"},
        settings.report_topic: {"message.timestamp.type": "LogAppendTime"},
    }
    for department in sorted(config.departments):
        topics[settings.action_topic(department)] = {}
    return topics


async def ensure_topics(settings: KafkaSettings, config: RoutingConfig) -> list[str]:
    """Create the topics that do not exist yet; returns those created. Another instance racing us is fine."""
    admin = AIOKafkaAdminClient(**settings.client_options(), request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = {name: configs for name, configs in wanted(settings, config).items() if name not in existing}
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(name, settings.partitions, settings.replication, topic_configs=c) for name, c in missing.items()]
        )
        for item in response.topic_errors:
            name, code = item[0], item[1]
            if code not in (0, ALREADY_EXISTS):
                raise RuntimeError(f"creating Kafka topic {name} failed with error code {code}")
        log.info("kafka_topics_created", topics=sorted(missing))
        return sorted(missing)
    finally:
        await admin.close()
