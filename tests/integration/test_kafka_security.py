"""Kafka ingest with security on: SASL (PLAIN) over TLS to the broker, and the same publisher signature as
HTTP ingest on every record; what fails it is dead-lettered with the reason, audited and counted."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.authkit import make_token
from tests.support.kafkabroker import Broker
from tests.support.kafkakit import kafka_env, produce, read_topic
from tests.support.messages import json_message, now_iso
from tests.support.procs import Stack, free_port, start_stack, wait_for


def sasl_env(broker: Broker, password_file: Path) -> dict[str, str]:
    assert broker.sasl is not None
    return {
        **kafka_env(broker),
        "WARNROUTE_KAFKA_BOOTSTRAP": broker.sasl.bootstrap,
        "WARNROUTE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "WARNROUTE_KAFKA_SASL_MECHANISM": "PLAIN",
        "WARNROUTE_KAFKA_SASL_USERNAME": broker.sasl.username,
        "WARNROUTE_KAFKA_SASL_PASSWORD_FILE": str(password_file),
        "WARNROUTE_KAFKA_SSL_CAFILE": str(broker.sasl.ca_file),
    }


@pytest.fixture
def secure_stack(tmp_path: Path, kafka_broker: Broker) -> Iterator[tuple[Stack, bytes, str]]:
    assert kafka_broker.sasl is not None
    password_file = tmp_path / "kafka-password"
    password_file.write_text(kafka_broker.sasl.password)
    key = secrets.token_hex(32)
    extra = {**sasl_env(kafka_broker, password_file), "WARNROUTE_AUTH": "on", "WARNROUTE_BUREAU_KEY": key}
    stack = start_stack(tmp_path, extra_env=extra)
    try:
        token = make_token(
            stack, "--name", "罗平县气象台", "--role", "publisher", "--signing-key", "env:WARNROUTE_BUREAU_KEY"
        )
        publisher_id = token[len("wrt_") :].split(".")[0]
        yield stack, key.encode(), publisher_id
    finally:
        stack.stop()


def signed(key: bytes, publisher: str, body: bytes, at: float | None = None) -> list[tuple[str, bytes]]:
    stamp = str(int(at if at is not None else time.time()))
    digest = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return [
        ("x-warnroute-publisher", publisher.encode()),
        ("x-warnroute-timestamp", stamp.encode()),
        ("x-warnroute-signature", f"sha256={digest}".encode()),
    ]


def test_signed_records_over_sasl_ssl_are_routed_and_the_rest_dead_lettered_with_reasons(
    secure_stack: tuple[Stack, bytes, str], kafka_broker: Broker
) -> None:
    stack, key, publisher = secure_stack
    sasl = kafka_broker.sasl
    assert sasl is not None
    sent = now_iso()

    def message(name: str) -> bytes:
        return json_message(identifier=f"53032441600000_{name}", headline=name, sent=sent)

    good, tampered = message("good"), message("tampered")
    records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = [
        (b"1", message("unsigned"), []),
        (b"2", message("stale"), signed(key, publisher, message("stale"), at=time.time() - 3600)),
        (b"3", tampered, signed(key, publisher, tampered.replace(b"tampered", b"tamperex"))),
        (b"4", message("stranger"), signed(key, "nobody", message("stranger"))),
        (b"5", message("wrongkey"), signed(b"not the key", publisher, message("wrongkey"))),
        (b"6", good, signed(key, publisher, good)),
    ]
    produce(
        sasl.bootstrap,
        stack.serve_env["WARNROUTE_KAFKA_INGEST_TOPIC"],
        records,
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_plain_username=sasl.username,
        sasl_plain_password=sasl.password,
        ssl_context=ssl.create_default_context(cafile=str(sasl.ca_file)),
    )
    duty = make_token(stack, "--name", "值班室", "--role", "duty_office")
    auth = {"authorization": f"Bearer {duty}"}

    def stored(name: str) -> Any:
        response = httpx.get(f"{stack.api}/api/v1/warnings/53032441600000_{name}", headers=auth, timeout=10)
        return response.json() if response.status_code == 200 else None

    assert wait_for(lambda: stored("good"), timeout=30)["warning"]["headline"] == "good"
    dead = read_topic(kafka_broker.bootstrap, stack.serve_env["WARNROUTE_KAFKA_DEAD_LETTER_TOPIC"], 5)
    reasons = {r.key: {k: v.decode() for k, v in r.headers}["warnroute-reason"] for r in dead}
    assert set(reasons) == {b"1", b"2", b"3", b"4", b"5"}
    assert "x-warnroute-publisher" in reasons[b"1"]
    assert "window" in reasons[b"2"]
    assert reasons[b"3"] == reasons[b"5"] == "signature does not match the body"
    assert reasons[b"4"] == "unknown or revoked publisher"
    assert all(dict(r.headers)["warnroute-kind"] == b"signature" for r in dead)
    for name in ("unsigned", "stale", "tampered", "stranger", "wrongkey"):
        assert stored(name) is None
    metrics = httpx.get(f"{stack.api}/metrics", timeout=10).text
    assert 'warnroute_kafka_dead_letters_total{kind="signature"} 5.0' in metrics
    audit = subprocess.run(
        [sys.executable, "-m", "router", "audit", "verify", "--data-dir", str(stack.tmp / "data")],
        capture_output=True,
        text=True,
        env=stack.serve_env,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    log = (stack.tmp / "serve.log").read_text()
    assert log.count('"method": "KAFKA"') >= 5 or log.count("request_denied") >= 5
    assert sasl.password not in log and key.decode() not in log


def test_a_wrong_sasl_password_stops_start_up_without_printing_it(tmp_path: Path, kafka_broker: Broker) -> None:
    password_file = tmp_path / "kafka-password"
    wrong = "wrong-" + secrets.token_hex(8)
    password_file.write_text(wrong)
    stack_env = {**sasl_env(kafka_broker, password_file), "WARNROUTE_AUTH": "dev"}
    from router.tools.demo import demo_config, environments

    _, env = environments("http://127.0.0.1:9", demo_config(tmp_path / "config"), tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "router", "serve", "--port", "0"],
        env={**env, **stack_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # the configuration's exit code, not a crash
    assert wrong not in output
    assert kafka_broker.sasl is not None
    # The broker's own refusal, in words, naming the server and the user (a closed port or a TLS failure
    # reads differently: see the next test).
    assert (
        f"Kafka mode cannot start: the broker at {kafka_broker.sasl.bootstrap} refused the PLAIN credentials of "
        "user 'bureau': SASL authentication failed" in output
    ), output
    assert "Traceback" not in output


def test_a_closed_kafka_port_and_a_wrong_ca_are_told_apart_from_a_wrong_password(
    tmp_path: Path, kafka_broker: Broker
) -> None:
    from router.tools.demo import demo_config, environments

    assert kafka_broker.sasl is not None
    password_file = tmp_path / "kafka-password"
    password_file.write_text(kafka_broker.sasl.password)
    stranger = tmp_path / "other-ca.pem"
    import trustme

    trustme.CA().cert_pem.write_to_path(str(stranger))
    _, env = environments("http://127.0.0.1:9", demo_config(tmp_path / "config"), tmp_path / "data")
    closed = f"127.0.0.1:{free_port()}"

    def serve(**overrides: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "router", "serve", "--port", "0"],
            env={**env, **sasl_env(kafka_broker, password_file), "WARNROUTE_AUTH": "dev", **overrides},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        return done.stderr

    assert f"Kafka mode cannot start: cannot connect to {closed}: Connection refused" in serve(
        WARNROUTE_KAFKA_BOOTSTRAP=closed
    )
    told = serve(WARNROUTE_KAFKA_SSL_CAFILE=str(stranger))
    assert f"TLS with the broker at {kafka_broker.sasl.bootstrap} failed: CERTIFICATE_VERIFY_FAILED" in told, told
    assert "authentication" not in told


def test_a_signed_report_record_is_filed_for_its_office_and_a_forged_or_foreign_one_dead_lettered(
    secure_stack: tuple[Stack, bytes, str], kafka_broker: Broker
) -> None:
    """A county government files by Kafka with its own signing key, as over HTTP: for its county only."""
    stack, key, _publisher = secure_stack
    token = make_token(
        stack,
        "--name",
        "罗平县人民政府",
        "--role",
        "department",
        "--jurisdiction",
        "530324",
        "--department",
        "government",
        "--signing-key",
        "env:WARNROUTE_BUREAU_KEY",
    )
    office = token[len("wrt_") :].split(".")[0]

    def report(identifier: str, jurisdiction: str = "530324") -> bytes:
        body = {
            "schema": "warnroute.report/1",
            "id": identifier,
            "kind": "losses",
            "jurisdiction": jurisdiction,
            "department": "government",
            "observed_at": now_iso(-60),
            "figures": {"injured": 1},
        }
        return json.dumps(body).encode()

    def headers(body: bytes) -> list[tuple[str, bytes]]:
        return [
            ("x-warnroute-principal" if k == "x-warnroute-publisher" else k, v) for k, v in signed(key, office, body)
        ]

    good, foreign, forged = report("k-good"), report("k-foreign", "530381"), report("k-forged")
    topic = stack.serve_env["WARNROUTE_KAFKA_REPORT_TOPIC"]
    sasl = kafka_broker.sasl
    assert sasl is not None
    produce(
        sasl.bootstrap,
        topic,
        [(None, forged, headers(report("other"))), (None, foreign, headers(foreign)), (None, good, headers(good))],
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_plain_username=sasl.username,
        sasl_plain_password=sasl.password,
        ssl_context=ssl.create_default_context(cafile=str(sasl.ca_file)),
    )
    duty = make_token(stack, "--name", "市值班室", "--role", "duty_office")

    def filed() -> list[str] | None:
        answer = httpx.get(f"{stack.api}/api/v1/reports", headers={"authorization": f"Bearer {duty}"}, timeout=10)
        ids = [r["id"] for r in answer.json()["reports"]]
        return ids if "k-good" in ids else None

    assert wait_for(filed, timeout=30) == ["k-good"]
    dead = read_topic(kafka_broker.bootstrap, stack.serve_env["WARNROUTE_KAFKA_DEAD_LETTER_TOPIC"], 2)
    why = {d.value: {k: v.decode() for k, v in d.headers} for d in dead}
    assert why[forged]["warnroute-field"] == "signature"
    assert why[foreign]["warnroute-field"] == "jurisdiction"
