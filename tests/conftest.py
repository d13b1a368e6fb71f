"""Shared fixtures: the real configuration, and builders for messages in each format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from router.domain.models import WeatherWarning
from router.parsers import parse_message
from router.plan.config import RoutingConfig, load_config
from tests.support.backends import Backend
from tests.support.kafkabroker import Broker
from tests.support.messages import CONFIG_DIR
from tests.support.pgserver import Postgres
from tests.support.procs import Stack, start_stack


@pytest.fixture(scope="session")
def config() -> RoutingConfig:
    return load_config(CONFIG_DIR)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A real provider simulator and a real ``warnroute serve`` on free loopback ports."""
    s = start_stack(tmp_path)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def parse(config: RoutingConfig) -> Callable[[bytes], WeatherWarning]:
    return lambda data: parse_message(data, config)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One real Apache Kafka broker for the session (plaintext and SASL_SSL listeners on loopback)."""
    broker = Broker(tmp_path_factory.mktemp("kafka"), secure=True).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """One real PostgreSQL server for the session (Debian's packages, a throwaway cluster on loopback)."""
    server = Postgres().start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(params=["sqlite", "sqlite-process", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each store test runs three times: on a SQLite file (ingest written on the writer's thread, and by a
    process of its own, as the server writes it) and on a fresh PostgreSQL database."""
    if request.param.startswith("sqlite"):
        return Backend("sqlite", str(tmp_path / "db.sqlite"), writer_process=request.param == "sqlite-process")
    server: Postgres = request.getfixturevalue("postgres_server")
    return Backend("postgres", server.create_database())
