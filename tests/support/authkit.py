"""Tokens and signed requests for tests that run the router with authentication on."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
import time
from dataclasses import dataclass

from tests.support.procs import Stack

JSON = {"content-type": "application/json"}


@dataclass
class Secure:
    stack: Stack
    key: bytes
    tokens: dict[str, str]  # role name → bearer token

    def headers(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}

    def signed(self, body: bytes, who: str = "publisher", at: float | None = None) -> dict[str, str]:
        """The documented ingest signature: HMAC-SHA256 over "<timestamp>." + body."""
        stamp = str(int(at if at is not None else time.time()))
        digest = hmac.new(self.key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {
            **JSON,
            **self.headers(who),
            "x-warnroute-timestamp": stamp,
            "x-warnroute-signature": f"sha256={digest}",
        }


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", *args, "--data-dir", str(stack.tmp / "data")],
        capture_output=True,
        text=True,
        check=False,
        env=stack.serve_env,
    )


def make_token(stack: Stack, *args: str) -> str:
    done = cli(stack, "token", "create", "--config", str(stack.tmp / "config"), *args)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("wrt_") and token not in done.stderr
    return token
