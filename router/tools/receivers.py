"""How the receivers check what warnroute sends: Standard Webhooks, DingTalk and Feishu signatures, written
here from the providers' own descriptions and apart from warnroute's signers (router/handlers/), so that
the simulator does not accept a signature only because it was made by the same code.

The specifications (research/channels.md §2.1, §3.1, §6.1):

- Standard Webhooks v1: base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")), sent as
  ``v1,<sig>`` (space-separated when several); a ``whsec_`` secret is the base64 of the key.
- DingTalk: HMAC-SHA256 keyed with the secret over ``timestamp + "\\n" + secret`` (milliseconds), then
  base64, then URL-encoding, in the query (``&timestamp=&sign=``).
- Feishu: HMAC-SHA256 keyed with ``timestamp + "\\n" + secret`` (seconds) over an empty message, then
  base64, in the JSON body (``timestamp``, ``sign``).

The ``*_VECTOR`` constants are known answers: Standard Webhooks' published test vector, and DingTalk and Feishu vectors
computed from the recipes above with OpenSSL's command line (``openssl dgst -sha256 -hmac``), not with
Python. :func:`check_vectors` runs at the simulator's start; a verifier that disagrees stops it.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from urllib.parse import unquote

_SECRET = "SECb6f2a1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1"
# https://github.com/standard-webhooks/standard-webhooks (the reference libraries' "sign" test):
# (secret, webhook-id, webhook-timestamp, body, signature)
WEBHOOK_VECTOR: tuple[str, str, int, bytes, str] = (
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "msg_p5jXN8AQM9LWM0D4loKWxJek",
    1614265330,
    b'{"test": 2432232314}',
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
)
# printf '1700000000000\n%s' "$S" | openssl dgst -sha256 -hmac "$S" -binary | base64, then URL-encoded
DINGTALK_VECTOR: tuple[str, int, str] = (_SECRET, 1700000000000, "PfPz3KM8BATOKR8qTnzOE8P6mSoMXjcpxm%2Fw%2B3Lfstg%3D")
# printf '' | openssl dgst -sha256 -mac HMAC -macopt "key:1700000000<LF>$S" -binary | base64
FEISHU_VECTOR: tuple[str, int, str] = (_SECRET, 1700000000, "4LHjb4REG8mBWclZB/yu8iTc6WQ2EzA5H5DSgXSP9Gk=")


def _b64_hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.digest(key, message, "sha256")).decode("ascii")


def webhook_signature_ok(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance: int = 300
) -> bool:
    """A Standard Webhooks receiver: the id and a timestamp within ``tolerance`` of ``now``, and any ``v1``
    signature in the header matching."""
    message_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not message_id or not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        return False
    key = base64.b64decode(secret[len("whsec_") :]) if secret.startswith("whsec_") else secret.encode()
    expected = _b64_hmac(key, message_id.encode() + b"." + stamp.encode() + b"." + body)
    offered = [part.split(",", 1) for part in headers.get("webhook-signature", "").split(" ") if "," in part]
    return any(version == "v1" and hmac.compare_digest(sig, expected) for version, sig in offered)


def dingtalk_expected(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value DingTalk expects (URL-encoded, as it stands in the query)."""
    raw = _b64_hmac(secret.encode(), str(timestamp_ms).encode() + b"\n" + secret.encode())
    return raw.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def dingtalk_signature_ok(secret: str, timestamp_ms: int, sign: str) -> bool:
    """``sign`` as a web framework hands it over (already URL-decoded)."""
    return hmac.compare_digest(unquote(dingtalk_expected(secret, timestamp_ms)), sign)


def feishu_expected(secret: str, timestamp_s: int) -> str:
    return _b64_hmac(str(timestamp_s).encode() + b"\n" + secret.encode(), b"")


def check_vectors() -> None:
    """Raise RuntimeError unless every verifier reproduces its known answer (and refuses a changed body)."""
    secret, message_id, stamp, body, signature = WEBHOOK_VECTOR
    headers = {"webhook-id": message_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}
    accepts = webhook_signature_ok(secret, headers, body, stamp)
    if not accepts or webhook_signature_ok(secret, headers, body + b" ", stamp):
        raise RuntimeError("the Standard Webhooks verifier disagrees with the published test vector")
    if dingtalk_expected(*DINGTALK_VECTOR[:2]) != DINGTALK_VECTOR[2]:
        raise RuntimeError("the DingTalk verifier disagrees with its known answer")
    if feishu_expected(*FEISHU_VECTOR[:2]) != FEISHU_VECTOR[2]:
        raise RuntimeError("the Feishu verifier disagrees with its known answer")
