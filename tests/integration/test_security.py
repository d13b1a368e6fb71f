"""Roles and tokens, signed ingest, overload, denials audited, TLS: against a real ``warnroute serve``
with authentication on (``WARNROUTE_AUTH=on``), tokens made with the real CLI."""

from __future__ import annotations

import json
import secrets
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from router.plan.config import default_config_dir
from router.tools.demo import environments, phone_of
from tests.support.authkit import JSON, Secure, cli, make_token
from tests.support.messages import json_message, now_iso
from tests.support.procs import free_port, start, start_stack, wait_for


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[Secure]:
    key = secrets.token_hex(32)
    stack = start_stack(tmp_path, extra_env={"WARNROUTE_AUTH": "on", "WARNROUTE_BUREAU_KEY": key})
    try:
        tokens = {
            "publisher": make_token(
                stack, "--name", "罗平县气象台", "--role", "publisher", "--signing-key", "env:WARNROUTE_BUREAU_KEY"
            ),
            "department": make_token(
                stack,
                "--name",
                "罗平县水务局",
                "--role",
                "department",
                "--jurisdiction",
                "530324",
                "--department",
                "water",
            ),
            "other_department": make_token(
                stack,
                "--name",
                "罗平县卫健委",
                "--role",
                "department",
                "--jurisdiction",
                "530324",
                "--department",
                "health",
            ),
            "duty_office": make_token(stack, "--name", "市值班室", "--role", "duty_office"),
            "admin": make_token(stack, "--name", "运维", "--role", "admin"),
        }
        yield Secure(stack, key.encode(), tokens)
    finally:
        stack.stop()


ROLES = ("anonymous", "publisher", "department", "other_department", "duty_office", "admin")


def test_every_role_against_every_endpoint(secure: Secure) -> None:
    api = secure.stack.api
    body = json_message(identifier="lp_authz", sent=now_iso())
    first = httpx.post(f"{api}/api/v1/warnings", content=body, headers=secure.signed(body))
    assert first.status_code == 202, first.text
    wid = first.json()["warning_id"]
    water = next(o for o in first.json()["obligations"] if o["department"] == "water" and o["kind"] == "respond")

    def ingest(who: str) -> httpx.Response:
        fresh = json_message(identifier=f"lp_{who}", sent=now_iso())
        return httpx.post(f"{api}/api/v1/warnings", content=fresh, headers=secure.signed(fresh, who))

    def get(path: str) -> object:
        return lambda who: httpx.get(f"{api}{path}", headers=secure.headers(who))

    def ack(on_behalf: bool) -> object:
        payload = {"by": "someone", "on_behalf": on_behalf, "reason": "电话确认" if on_behalf else None}
        return lambda who: httpx.post(
            f"{api}/api/v1/obligations/{water['id']}/ack", json=payload, headers=secure.headers(who)
        )

    matrix: dict[str, tuple[object, set[str]]] = {
        "ingest": (ingest, {"publisher"}),
        "read warning": (get(f"/api/v1/warnings/{wid}"), {"duty_office", "admin"}),
        "report": (get(f"/api/v1/warnings/{wid}/report"), {"duty_office", "admin"}),
        "audit": (get("/api/v1/audit/verify"), {"duty_office", "admin"}),
        "summary": (get("/api/v1/summary"), {"duty_office", "admin"}),
        "own feed": (get("/api/v1/feed/530324/water"), {"department", "duty_office", "admin"}),
        "another's feed": (get("/api/v1/feed/530324/health"), {"other_department", "duty_office", "admin"}),
        "acknowledge": (ack(False), {"department"}),
        "confirm on behalf": (ack(True), {"duty_office", "admin"}),
        "tokens": (get("/api/v1/tokens"), {"admin"}),
        "reload": (lambda who: httpx.post(f"{api}/api/v1/admin/reload", headers=secure.headers(who)), {"admin"}),
    }
    denials = 0
    for endpoint, (call, allowed) in matrix.items():
        for who in ROLES:
            response = call(who)  # type: ignore[operator]
            if who in allowed:
                assert response.status_code < 400, (endpoint, who, response.text)
            else:
                expected = 401 if who == "anonymous" else 403
                assert response.status_code == expected, (endpoint, who, response.text)
                assert response.json()["problem"], (endpoint, who)
                denials += 1
    # Every denial is counted and audited, naming who and what, never a token.
    metrics = httpx.get(f"{api}/metrics").text
    counted = sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("warnroute_denials_total{")
    )
    assert counted == denials
    db = sqlite3.connect(f"file:{secure.stack.tmp / 'data' / 'warnroute.db'}?mode=ro", uri=True)
    audited = [json.loads(d) for (d,) in db.execute("SELECT detail FROM audit WHERE kind = 'denied'")]
    db.close()
    assert len(audited) == denials
    assert {d["principal"] for d in audited} >= {"anonymous"}
    assert not any(t.split(".")[1] in json.dumps(audited) for t in secure.tokens.values())


def test_signed_ingest_rejects_unsigned_forged_stale_and_conflicting(secure: Secure) -> None:
    url = f"{secure.stack.api}/api/v1/warnings"
    body = json_message(identifier="lp_sig", severity="red", sent=now_iso())
    unsigned = httpx.post(url, content=body, headers={**JSON, **secure.headers("publisher")})
    assert unsigned.status_code == 401 and unsigned.json()["field"] == "signature"
    forged = secure.signed(body)
    forged["x-warnroute-signature"] = "sha256=" + "0" * 64
    assert httpx.post(url, content=body, headers=forged).status_code == 401
    tampered = body.replace(b"red", b"blue")
    bad = httpx.post(url, content=tampered, headers=secure.signed(body))
    assert bad.status_code == 401 and bad.json()["problem"] == "signature does not match the body"
    stale = httpx.post(url, content=body, headers=secure.signed(body, at=time.time() - 600))
    assert stale.status_code == 401 and "window" in stale.json()["problem"]
    headers = secure.signed(body)
    assert httpx.post(url, content=body, headers=headers).status_code == 202
    replayed = httpx.post(url, content=body, headers=headers)  # within the window: nothing new is created
    assert replayed.status_code == 200 and replayed.json()["status"] == "duplicate"
    conflicting = body.replace(b"red", b"orange")
    clash = httpx.post(url, content=conflicting, headers=secure.signed(conflicting))
    assert clash.status_code == 409 and clash.json()["field"] == "identifier"
    total = httpx.get(f"{secure.stack.api}/api/v1/summary", headers=secure.headers("admin")).json()
    assert total["warnings"]["total"] == 1


def test_a_revoked_token_stops_working_and_tokens_are_listed_without_secrets(secure: Secure) -> None:
    api = secure.stack.api
    admin = secure.headers("admin")
    listed = httpx.get(f"{api}/api/v1/tokens", headers=admin).json()["tokens"]
    assert len(listed) == 5 and all("secret" not in json.dumps(t) for t in listed)
    duty_id = secure.tokens["duty_office"][4:].split(".")[0]
    assert httpx.get(f"{api}/api/v1/summary", headers=secure.headers("duty_office")).status_code == 200
    assert httpx.delete(f"{api}/api/v1/tokens/{duty_id}", headers=admin).status_code == 200
    gone = httpx.get(f"{api}/api/v1/summary", headers=secure.headers("duty_office"))
    assert gone.status_code == 401 and gone.json()["problem"] == "unknown or revoked token"
    made = httpx.post(f"{api}/api/v1/tokens", json={"name": "x", "role": "department"}, headers=admin)
    assert made.status_code == 422 and "jurisdiction" in made.json()["problem"]
    inline = httpx.post(
        f"{api}/api/v1/tokens", json={"name": "x", "role": "publisher", "signing_key": "hunter2"}, headers=admin
    )
    assert inline.status_code == 422 and "reference" in inline.json()["problem"]
    listed_cli = cli(secure.stack, "token", "list")
    assert listed_cli.returncode == 0
    assert [t["id"] for t in json.loads(listed_cli.stdout)["tokens"] if t["revoked_at"]] == [duty_id]


def test_overload_answers_503_before_accepting_anything(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, extra_env={"WARNROUTE_MAX_BACKLOG": "-1"})
    try:
        response = httpx.post(f"{stack.api}/api/v1/warnings", content=json_message(), headers=JSON)
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert httpx.get(f"{stack.api}/api/v1/summary").json()["warnings"]["total"] == 0
    finally:
        stack.stop()


def test_https_with_a_certificate_on_loopback(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(tmp_path / "server.pem")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    port = free_port()
    _, env = environments("http://127.0.0.1:1", default_config_dir(), tmp_path / "data")
    pem = str(tmp_path / "server.pem")
    args = ["serve", "--port", str(port), "--tls-cert", pem, "--tls-key", pem]
    trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    proc = start(args, env, f"https://127.0.0.1:{port}", tmp_path / "serve.log", "/healthz", trusted)
    try:
        assert httpx.get(f"https://127.0.0.1:{port}/readyz", verify=trusted).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/healthz")  # an unknown CA is refused by the client
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz")  # no plain HTTP on the TLS port
    finally:
        proc.stop()


def test_no_secret_reaches_logs_metrics_or_any_answer(tmp_path: Path) -> None:
    """With every channel used and failing, the secrets of the process (gateway keys, webhook and robot
    secrets, contact numbers) appear in no log line, metric or API answer."""
    stack = start_stack(tmp_path)
    try:
        phones = [phone_of(stack.serve_env, "530324", d) for d in ("principal_leaders", "flood_drought_hq")]
        secrets_in_use = [
            stack.serve_env[name]
            for name in ("WARNROUTE_SMS_API_KEY", "WARNROUTE_DEMO_WEBHOOK_SECRET", "WARNROUTE_DEMO_ROBOT_SECRET")
        ] + phones
        api = stack.api
        ok = httpx.post(
            f"{api}/api/v1/warnings",
            content=json_message(identifier="s1", severity="red", sent=now_iso()),
            headers=JSON,
        )
        httpx.post(f"{stack.sim.url}/control", json={"mode": "fail", "status": 401})
        bad = httpx.post(
            f"{api}/api/v1/warnings",
            content=json_message(identifier="s2", severity="red", sent=now_iso()),
            headers=JSON,
        )
        outputs: list[str] = []

        def failed_once() -> bool:
            second = httpx.get(f"{api}/api/v1/warnings/s2").json()
            return all(n["last_error"] for o in second["obligations"] for n in o["notifications"][:1])

        wait_for(failed_once, timeout=20)
        for path in ("/api/v1/warnings/s1", "/api/v1/warnings/s2", "/api/v1/warnings/s2/report", "/metrics"):
            outputs.append(httpx.get(f"{api}{path}").text)
        outputs += [ok.text, bad.text, (stack.tmp / "serve.log").read_text(errors="replace")]
        assert any("401" in o for o in outputs[:2])  # the failures are there, described
        for text in outputs:
            for secret in secrets_in_use:
                assert secret not in text
        for phone in phones:
            assert all(phone.lstrip("+") not in text for text in outputs)
    finally:
        stack.stop()


def test_the_openapi_schema_holds_on_a_live_server(tmp_path: Path) -> None:
    """schemathesis generates requests for every operation of /openapi.json: no answer is a 5xx."""
    stack = start_stack(tmp_path)
    try:
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{stack.api}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--exclude-path-regex",
                "/stream$",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    finally:
        stack.stop()


def test_oversized_headers_are_refused_and_block_nothing_behind_them(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    try:
        url = f"{stack.api}/api/v1/warnings"
        huge = httpx.post(url, content=json_message(), headers={**JSON, "x-padding": "a" * 70_000})
        assert huge.status_code == 431 and huge.json()["field"] == "headers"
        many = httpx.post(url, content=json_message(), headers={**JSON, **{f"x-h{i}": "1" for i in range(80)}})
        assert many.status_code == 431
        assert httpx.post(url, content=json_message(sent=now_iso()), headers=JSON).status_code == 202
    finally:
        stack.stop()


def test_gateway_callbacks_need_their_token(secure: Secure) -> None:
    """A forged voice receipt with a keypress would acknowledge a leader's phone report: refused."""
    api = secure.stack.api
    forged = {"call_id": "voice-x", "status": "answered", "keypress": "1"}
    assert httpx.post(f"{api}/api/v1/receipts/voice", json=forged).status_code == 403
    assert httpx.post(f"{api}/api/v1/receipts/voice?token=wrong", json=forged).status_code == 403
    reply = {"from": "+8613800000000", "text": "确认 1"}
    assert httpx.post(f"{api}/api/v1/inbound/sms", json=reply).status_code == 403
    token = secure.stack.serve_env["WARNROUTE_RECEIPT_TOKEN"]
    genuine = httpx.post(f"{api}/api/v1/receipts/voice?token={token}", json=forged)
    assert genuine.status_code == 200 and genuine.json() == {"recorded": True, "matched": False}


def test_hostile_values_in_tokens_signatures_and_cursors_are_refused_not_crashed(secure: Secure) -> None:
    """Found by schemathesis: non-ASCII tokens and signatures, Unicode digits, cursors past SQLite's range."""
    api = secure.stack.api
    body = json_message(identifier="lp_hostile", sent=now_iso())

    def latin(value: str) -> bytes:
        return value.encode("latin-1")

    for name, value in (("x-warnroute-signature", "sha256=é²"), ("x-warnroute-timestamp", "²")):
        headers = {k.encode(): v.encode() for k, v in secure.signed(body).items()} | {name.encode(): latin(value)}
        assert httpx.post(f"{api}/api/v1/warnings", content=body, headers=headers).status_code == 401
    assert httpx.get(f"{api}/api/v1/summary", headers={b"authorization": latin("Bearer wrt_é.²")}).status_code == 401
    receipt = {"call_id": "x", "status": "answered"}
    assert httpx.post(f"{api}/api/v1/receipts/voice", params={"token": "é"}, json=receipt).status_code == 403
    assert httpx.get(f"{api}/ack/x", params={"exp": "²", "sig": "é"}).status_code == 403
    huge = httpx.get(f"{api}/api/v1/feed/530324/water", params={"after": 10**30}, headers=secure.headers("admin"))
    assert huge.status_code == 422
