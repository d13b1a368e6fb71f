"""The composition root: the one place that builds every object and owns start/stop order.

``Runtime`` is an async context manager: config → metrics → store → HTTP client → handlers →
feed hub → dispatcher → ingest service, torn down in reverse (AsyncExitStack). The FastAPI
lifespan (api.py) enters it and does nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Protocol

import aiohttp
import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from router.access.acklinks import AckSigner, Sessions, load_key
from router.access.gate import Gate
from router.delivery.budget import Budgets
from router.delivery.canary import Canary
from router.delivery.dispatcher import Dispatcher, DispatchSettings
from router.delivery.feed import FeedHub
from router.errors import ConfigError, ConfigProblem
from router.handlers import build_handlers
from router.handlers.http import AiohttpTransport
from router.ingest.service import IngestService, SentWindow
from router.metrics import Metrics
from router.obligations.acks import Acknowledgements
from router.obligations.scheduler import Scheduler
from router.parsers.xmlsig import XmlSignatures
from router.plan.config import RoutingConfig, config_digest, load_config
from router.plan.secrets import SecretResolver
from router.reports.service import Reports
from router.settings import Settings
from router.store import SqlStore, make_store
from router.stream.acks import AckConsumer
from router.stream.actions import ActionRelay
from router.stream.ingest import IngestConsumer
from router.stream.probe import KafkaUnavailable, why_unreachable
from router.stream.reports import ReportConsumer
from router.stream.settings import KafkaSettings
from router.stream.topics import ensure_topics

log = structlog.get_logger("warnroute")


WORKERS = ("dispatcher", "scheduler", "kafka_ingest", "kafka_acks", "relay")  # told to stop, not cancelled


class Stoppable(Protocol):
    def stop(self) -> None: ...


class Runtime:
    """Everything ``warnroute serve`` runs, started and stopped as one unit."""

    config: RoutingConfig
    metrics: Metrics
    store: SqlStore
    hub: FeedHub
    dispatcher: Dispatcher
    scheduler: Scheduler
    ack: AckSigner
    acks: Acknowledgements
    gate: Gate
    service: IngestService

    def __init__(self, settings: Settings, config: RoutingConfig | None = None) -> None:
        self.settings = settings
        self._config = config
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._stoppable: list[Stoppable] = []  # workers told to stop before their tasks are awaited
        self.relay: ActionRelay | None = None

    async def __aenter__(self) -> Runtime:
        try:
            return await self._start()
        except BaseException:
            await self._teardown()  # a start that fails half-way closes what it opened (the store's thread)
            raise

    async def _start(self) -> Runtime:
        s = self.settings
        self.config = self._config if self._config is not None else load_config(s.config_dir)
        self.metrics = Metrics(CollectorRegistry())
        self.store = make_store(
            s.data_dir, s.database_url, reserve_bytes=s.disk_reserve_mb * 1024 * 1024, writer_process=True
        )
        await self.store.open()
        self._stack.push_async_callback(self.store.close)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64),
            timeout=aiohttp.ClientTimeout(total=s.call_timeout),
        )
        self._stack.push_async_callback(session.close)
        sms = (s.sms_url, s.sms_api_key or "") if s.sms_url else None
        voice = (s.voice_url, s.voice_api_key or "") if s.voice_url else None
        handlers = build_handlers(AiohttpTransport(session), sms=sms, voice=voice, smtp=s.smtp)
        self.secrets = SecretResolver()
        key = load_key(s.ack_key, s.data_dir)
        self.ack = AckSigner(key, s.callback_base)
        self.hub = FeedHub(on_drop=self.metrics.feed_dropped.inc)
        self.dispatcher = Dispatcher(
            self.store,
            self.config,
            handlers,
            self.secrets,
            self.metrics,
            settings=DispatchSettings(
                poll_seconds=s.poll_seconds,
                call_timeout=s.call_timeout,
                callback_base=s.callback_base,
                receipt_token=s.receipt_token,
                lease_seconds=max(s.lease_seconds, 2 * s.call_timeout),
            ),
            budgets=Budgets(self.config.provider_limits if s.provider_budgets else {}),
            ack=self.ack,
        )
        self.scheduler = Scheduler(
            self.store, self.config, self.metrics, self.dispatcher.wake, poll_seconds=s.scheduler_poll
        )
        if s.auth not in ("on", "dev"):
            raise ConfigError([ConfigProblem("environment", "WARNROUTE_AUTH", f"must be on or dev, not {s.auth!r}")])
        if s.auth == "dev":
            log.warning("dev_mode", problem="WARNROUTE_AUTH=dev: no tokens are checked; every caller is admin")
        self.gate = Gate(self.store, self.metrics, self.secrets, s.auth == "dev", Sessions(key))
        self.acks = Acknowledgements(self.store, self.config, self.secrets, self.metrics)
        self.reports = Reports(self.config, self.store, on_sent=self.dispatcher.wake)
        signatures = XmlSignatures(s.xml_signing_cert) if s.xml_signing_cert is not None else None
        self.service = IngestService(
            self.config,
            self.store,
            self.metrics,
            self.hub,
            self._committed,
            signatures=signatures,
            on_due=self.scheduler.wake,
            sent_window=SentWindow(s.sent_max_age, s.sent_max_ahead),
        )
        await self.store.record_event(
            "config_loaded", {"config": str(self.config.directory), "sha256": config_digest(self.config)}, time.time()
        )
        if s.kafka is not None:
            await self._start_kafka(s.kafka)
        if s.dispatch:
            for name, worker in (("dispatcher", self.dispatcher), ("scheduler", self.scheduler)):
                self._stoppable.append(worker)
                self._tasks.append(asyncio.create_task(worker.run(), name=name))
        self._tasks.append(asyncio.create_task(self._refresh_gauges(), name="gauges"))
        if s.canary_every > 0 and s.dispatch:
            self.canary = Canary(
                self.store, self.config, self.metrics, handlers, s.canary_every, s.canary_timeout, self._committed
            )
            self._tasks.append(asyncio.create_task(self.canary.run(), name="canary"))
        log.info("runtime_started", data_dir=str(s.data_dir), channels=sorted(handlers))
        return self

    async def _start_kafka(self, k: KafkaSettings) -> None:
        """Topics, then one idempotent producer (dead letters, actions), the ingest, acknowledgement and report
        consumers and the action relay. Stopped in reverse: consumers finish their batch first."""
        try:
            await ensure_topics(k, self.config)
        except Exception as exc:
            reason = await why_unreachable(k) or f"{type(exc).__name__}: {exc}"[:400]
            log.error("kafka_start_failed", bootstrap=k.bootstrap, problem=reason)
            raise KafkaUnavailable(f"Kafka mode cannot start: {reason}") from None
        producer = AIOKafkaProducer(**k.client_options(), enable_idempotence=True, acks="all", linger_ms=5)
        await producer.start()
        self._stack.push_async_callback(producer.stop)
        self.relay = ActionRelay(k, self.store, producer, self.metrics)
        self.kafka_ingest = IngestConsumer(k, self.service, producer, self.gate, self.metrics)
        self.kafka_acks = AckConsumer(k, self.acks, self.gate, self.metrics)
        self.kafka_reports = ReportConsumer(k, self.reports, producer, self.gate, self.metrics)
        for consumer in (self.kafka_ingest, self.kafka_acks, self.kafka_reports):
            await consumer.start()
            self._stack.push_async_callback(consumer.close)
        parts: list[tuple[str, IngestConsumer | AckConsumer | ReportConsumer | ActionRelay]] = [
            ("kafka_ingest", self.kafka_ingest),
            ("kafka_acks", self.kafka_acks),
            ("kafka_reports", self.kafka_reports),
            ("relay", self.relay),
        ]
        for name, part in parts:
            self._stoppable.append(part)
            self._tasks.append(asyncio.create_task(part.run(), name=name))
        log.info("kafka_started", bootstrap=k.bootstrap, ingest=k.ingest_topic, group=k.group)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._teardown()
        log.info("runtime_stopped")

    async def _teardown(self) -> None:
        """Workers finish what they hold (a Kafka batch is committed); the rest is cancelled; then the
        producer, consumers, HTTP session and store close in reverse order of opening."""
        for part in self._stoppable:
            part.stop()
        stoppable = {t.get_name() for t in self._tasks} & {
            "dispatcher",
            "scheduler",
            "kafka_ingest",
            "kafka_acks",
            "kafka_reports",
            "relay",
        }
        for task in self._tasks:
            if task.get_name() not in stoppable:
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stack.aclose()

    async def reload(self, by: str) -> str:
        """Load the configuration again and switch every part to it; raises ConfigError, keeping the old one."""
        config = load_config(self.settings.config_dir)
        digest = config_digest(config)
        for part in (self, self.service, self.dispatcher, self.scheduler, self.acks, self.reports):
            part.config = config
        await self.store.record_event("config_reloaded", {"by": by, "sha256": digest}, time.time())
        log.info("config_reloaded", sha256=digest, by=by)
        return digest

    def _committed(self) -> None:
        # The dispatcher and the action relay: a new warning's ladder steps lie ahead (a late one wakes the
        # scheduler itself, through the service), and waking the scheduler per commit would only cost the writer.
        self.dispatcher.wake()
        if self.relay is not None:
            self.relay.wake()

    def ready(self) -> tuple[bool, str]:
        """Ready when the dispatcher, the scheduler and (Kafka mode) the ingest consumer and the action relay
        have looked at their work recently (a dead-man check); not ready while the store's disk is below its
        reserve (new warnings would be refused)."""
        short = self.store.room()
        if short is not None:
            return False, short
        if not self.settings.dispatch:
            return True, "ok (dispatcher off)"
        now = time.time()
        s = self.settings
        watched = [
            ("dispatcher", self.dispatcher.heartbeat, max(10.0, 4 * s.poll_seconds + s.call_timeout)),
            ("scheduler", self.scheduler.heartbeat, max(10.0, 4 * s.scheduler_poll + 5)),
        ]
        if s.kafka is not None and self.relay is not None:
            watched.append(("relay", self.relay.heartbeat, 60.0))
            watched.append(("kafka_ingest", self.kafka_ingest.heartbeat, 60.0))
        for name, heartbeat, limit in watched:
            if any(t.get_name() == name and t.done() for t in self._tasks):
                return False, f"{name} stopped"
            if now - heartbeat > limit:
                return False, f"{name} silent for {now - heartbeat:.0f} s"
        return True, "ok"

    async def _refresh_gauges(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                counts = await self.store.counts()
                for state, n in counts.get("obligations", {}).items():
                    self.metrics.obligations.labels(state).set(n)
                deadline, _ = await self.store.deadlines()
                self.metrics.nearest_deadline.set(deadline - time.time() if deadline is not None else float("nan"))
            await asyncio.sleep(5)
