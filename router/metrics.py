"""Every Prometheus metric of warnroute, in one class, on an injected registry, with bounded labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from router.domain.channels import PUSH_KINDS
from router.domain.models import Hazard, Product

OUTCOMES = ("created", "duplicate", "conflict", "rejected")
ATTEMPT_OUTCOMES = ("sent", "delivered", "retry", "failed")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.warnings_received = Counter(
            "warnroute_warnings_received_total",
            "Warnings received, by product, hazard and outcome",
            ["product", "hazard", "outcome"],
            registry=registry,
        )
        self.obligations_created = Counter(
            "warnroute_obligations_created_total", "Obligations created, by action kind", ["kind"], registry=registry
        )
        self.obligations = Gauge(
            "warnroute_obligations", "Obligations in the store, by state", ["state"], registry=registry
        )
        self.budget_waits = Counter(
            "warnroute_budget_waits_total",
            "Notifications held for a destination's window, by channel and why (budget: warnroute's own count;"
            " provider: the provider said over the limit; moved_on: the window reopens after the deadline)",
            ["channel", "why"],
            registry=registry,
        )
        self.messages = Counter(
            "warnroute_messages_total",
            "Messages sent to destinations, by channel and how many notifications each carried (1, 2-9, 10+)",
            ["channel", "carried"],
            registry=registry,
        )
        self.attempts = Counter(
            "warnroute_notification_attempts_total",
            "Notification attempts, by channel and outcome",
            ["channel", "outcome"],
            registry=registry,
        )
        self.issue_to_sent = Histogram(
            "warnroute_issue_to_sent_seconds",
            "From the warning's issue time to a channel accepting it",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.issue_to_delivered = Histogram(
            "warnroute_issue_to_delivered_seconds",
            "From the warning's issue time to a delivery receipt",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.ingest_seconds = Histogram(
            "warnroute_ingest_seconds",
            "From request received to decision and obligations durable",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.outbox_depth = Gauge(
            "warnroute_outbox_claimed", "Notifications claimed by the last dispatcher pass", registry=registry
        )
        self.dispatcher_lag = Gauge(
            "warnroute_dispatcher_lag_seconds",
            "How late the oldest notification claimed in the last pass was",
            registry=registry,
        )
        self.dispatcher_leads = Gauge(
            "warnroute_dispatcher_leads",
            "1 while this instance's dispatcher sends (on a shared database one instance at a time does)",
            registry=registry,
        )
        self.feed_dropped = Counter(
            "warnroute_feed_dropped_total",
            "Live feed events dropped for slow subscribers (they can re-pull)",
            registry=registry,
        )
        self.escalations = Counter(
            "warnroute_escalations_total",
            "Ladder steps fired, by what they did (send CHANNEL, alert duty_office)",
            ["step"],
            registry=registry,
        )
        self.breaches = Counter(
            "warnroute_breaches_total",
            "Obligations not done by their deadline, by action kind",
            ["kind"],
            registry=registry,
        )
        self.acknowledgements = Counter(
            "warnroute_acknowledgements_total", "Obligations acknowledged, by method", ["method"], registry=registry
        )
        self.nearest_deadline = Gauge(
            "warnroute_nearest_deadline_seconds",
            "Seconds to the nearest deadline of an obligation not yet done (negative: overdue)",
            registry=registry,
        )
        self.canary_age = Gauge(
            "warnroute_canary_age_seconds",
            "Seconds since the canary last came back through each channel",
            ["channel"],
            registry=registry,
        )
        self.denials = Counter(
            "warnroute_denials_total", "Requests refused, unauthenticated or forbidden", ["reason"], registry=registry
        )
        self.overloaded = Counter(
            "warnroute_overloaded_total", "Ingest requests answered 503 before acceptance", registry=registry
        )
        self.store_unavailable = Counter(
            "warnroute_store_unavailable_total",
            "Warnings refused because the store could not take them (its disk below the reserve, full or unreachable)",
            registry=registry,
        )
        self.canary_missing = Gauge(
            "warnroute_canary_missing",
            "1 while the canary of a channel has not come back in time",
            ["channel"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "warnroute_kafka_dead_letters_total",
            "Ingest records sent to the dead-letter topic, by why (invalid, malformed, unknown_schema, "
            "unroutable, conflict, signature)",
            ["kind"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "warnroute_kafka_consumer_lag", "Records on the ingest topic not yet taken, summed", registry=registry
        )
        self.kafka_retries = Counter(
            "warnroute_kafka_batch_retries_total",
            "Ingest batches taken again after a failure (nothing committed for them)",
            registry=registry,
        )
        self.actions_published = Counter(
            "warnroute_kafka_actions_published_total",
            "Obligations published to department action topics",
            registry=registry,
        )
        self.kafka_acks = Counter(
            "warnroute_kafka_acks_total", "Acknowledgement records consumed, by result", ["result"], registry=registry
        )
        self.kafka_reports = Counter(
            "warnroute_kafka_reports_total",
            "Situation report records consumed, by result",
            ["result"],
            registry=registry,
        )
        self._received: dict[tuple[str, ...], Counter] = {}
        self._created: dict[tuple[str, ...], Counter] = {}
        for product in Product:
            for hazard in Hazard:
                for outcome in OUTCOMES[:3]:
                    self.received(product.value, hazard.value, outcome)
        self.received("unknown", "unknown", "rejected")
        for channel in PUSH_KINDS:
            for outcome in ATTEMPT_OUTCOMES:
                self.attempts.labels(channel, outcome)

    def received(self, product: str, hazard: str, outcome: str) -> Counter:
        """``warnings_received`` of these labels (kept: a warning counts itself without looking its labels up)."""
        return _kept(self._received, self.warnings_received, (product, hazard, outcome))

    def created(self, kind: str) -> Counter:
        """``obligations_created`` of this action kind (kept, likewise)."""
        return _kept(self._created, self.obligations_created, (kind,))


def _kept(children: dict[tuple[str, ...], Counter], metric: Counter, labels: tuple[str, ...]) -> Counter:
    """``metric``'s child of ``labels``, kept in ``children`` once made (its labels are bounded: enums)."""
    child = children.get(labels)
    if child is None:
        child = children[labels] = metric.labels(*labels)
    return child
