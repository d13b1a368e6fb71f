"""Real processes for end-to-end tests: the provider simulator and ``warnroute serve``, on loopback.

Every process is started on a free 127.0.0.1 port, waited for with a bounded loop, and stopped by
its own PID (SIGTERM, then SIGKILL), so nothing outlives a test.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from router.tools.demo import demo_config, environments, shrink_deadlines


def wait_for(predicate: Any, timeout: float = 20.0, step: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something true (and return that), for at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met in {timeout} s")


def drained(api: str, timeout: float = 240.0) -> dict[str, int]:
    """Wait until the router at ``api`` has no notification pending or being sent; its notification counts.
    Raises if it is not drained in time, or if any notification failed for good."""

    def counts() -> dict[str, int] | None:
        found: dict[str, int] = httpx.get(f"{api}/api/v1/summary", timeout=30).json()["notifications"]
        return None if found.get("pending") or found.get("sending") else found

    done: dict[str, int] = wait_for(counts, timeout=timeout, step=0.5)
    assert not done.get("failed"), done
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()


def start(
    args: list[str], env: dict[str, str], url: str, log: Path, ready_path: str, verify: ssl.SSLContext | bool = True
) -> Proc:
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen(
            [sys.executable, "-m", "router", *args],
            env=env,
            stdout=handle,
            stderr=handle,
            cwd=Path(__file__).resolve().parents[2],
        )
    proc = Proc(popen, url, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{args[0]} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url + ready_path, timeout=2, verify=verify).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"{args[0]} not ready in 30 s: {log.read_text(errors='replace')[-2000:]}")


def start_smtp(tmp: Path) -> tuple[Proc, Path]:
    """A real SMTP server process (aiosmtpd) on a free loopback port, keeping what it receives in a
    Maildir; returns it and the Maildir's folder. Stop it by its PID (``Proc.stop``)."""
    port, maildir = free_port(), tmp / "mail"
    log = tmp / "smtp.log"
    args = ["-m", "aiosmtpd", "-n", "-u", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Mailbox", str(maildir)]
    with log.open("ab") as handle:
        popen = subprocess.Popen([sys.executable, *args], stdout=handle, stderr=handle)
    proc = Proc(popen, f"smtp://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"smtp exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            if s.recv(3) == b"220":
                return proc, maildir
        time.sleep(0.05)
    proc.stop()
    raise RuntimeError("smtp not ready in 30 s")


@dataclass
class Stack:
    """A simulator, a real SMTP server and a router wired together, and how to (re)start the router."""

    tmp: Path
    sim: Proc
    serve_env: dict[str, str]
    port: int
    smtp: Proc | None = None
    maildir: Path | None = None
    router: Proc | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_router(self) -> Proc:
        self.router = start(
            ["serve", "--port", str(self.port), "--poll", "0.1"],
            self.serve_env,
            self.api,
            self.tmp / "serve.log",
            "/readyz",
        )
        return self.router

    def start_another(self, name: str) -> Proc:
        """A further router instance on the same settings (a shared database), its own port and data dir.
        The caller stops it."""
        port = free_port()
        env = {**self.serve_env, "WARNROUTE_DATA_DIR": str(self.tmp / f"data-{name}")}
        url = f"http://127.0.0.1:{port}"
        return start(
            ["serve", "--port", str(port), "--poll", "0.1"], env, url, self.tmp / f"serve-{name}.log", "/readyz"
        )

    def stop(self) -> None:
        if self.router is not None:
            self.router.stop()
        self.sim.stop()
        if self.smtp is not None:
            self.smtp.stop()


def start_stack(
    tmp: Path,
    receipt_delay: float = 0.05,
    dispatch: bool = True,
    extra_env: dict[str, str] | None = None,
    shrink: float | None = None,
    limits: bool = False,
    configure: Callable[[Path, str], dict[str, str]] | None = None,
) -> Stack:
    """Simulator + router; ``shrink`` scales every deadline and ladder step (1/60: minutes become seconds).
    The providers' limits are off unless ``limits`` (in the simulator, scaled by ``shrink``, and warnroute's
    own budgets): on a shrunk clock the real windows would outlast every deadline."""
    sim_port, port = free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    config = demo_config(tmp / "config")
    if shrink is not None:
        shrink_deadlines(config, shrink)
    env, serve_env = environments(sim_url, config, tmp / "data")
    if configure is not None:  # the caller's own contacts, channels or limits; and their environment
        serve_env.update(configure(config, sim_url))
    if not dispatch:
        serve_env["WARNROUTE_DISPATCH"] = "0"
    # The fixtures carry fixed 2026 dates (json_message, cap_message): accept them whenever the tests run.
    serve_env["WARNROUTE_SENT_MAX_AGE"] = str(50 * 365 * 86400)
    serve_env["WARNROUTE_PROVIDER_BUDGETS"] = "1" if limits else "0"
    serve_env.update(extra_env or {})
    sim = start(
        [
            "simulate",
            "--port",
            str(sim_port),
            "--receipt-delay",
            str(receipt_delay),
            *([] if limits else ["--no-limits"]),
            *(["--time-scale", str(shrink)] if limits and shrink is not None else []),
        ],
        env,
        sim_url,
        tmp / "simulator.log",
        "/received",
    )
    try:
        smtp, maildir = start_smtp(tmp)
    except Exception:
        sim.stop()
        raise
    serve_env |= {"WARNROUTE_SMTP_HOST": "127.0.0.1", "WARNROUTE_SMTP_PORT": smtp.url.rsplit(":", 1)[1]}
    serve_env.setdefault("WARNROUTE_SMTP_FROM", "warnroute@127.0.0.1")
    stack = Stack(tmp, sim, serve_env, port, smtp, maildir)
    try:
        stack.start_router()
    except Exception:
        stack.stop()
        raise
    return stack
