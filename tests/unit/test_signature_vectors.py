"""Signatures against known answers that are not warnroute's own: Standard Webhooks' published test vector,
and DingTalk and Feishu vectors computed from the providers' documented recipes with OpenSSL's command
line. The simulator's receivers (written apart from the signers) agree with the same answers."""

from __future__ import annotations

import urllib.parse

import pytest

from router.handlers.im import dingtalk_sign, feishu_sign
from router.handlers.webhook import sign, verify
from router.tools import receivers

# The Standard Webhooks specification's test vector (its reference libraries test "sign" with it).
WH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WH_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
WH_TS = 1614265330
WH_BODY = b'{"test": 2432232314}'
WH_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# DingTalk: HmacSHA256(key=secret, "1700000000000\n" + secret), Base64, URL-encoded:
#   printf '1700000000000\n%s' "$S" | openssl dgst -sha256 -hmac "$S" -binary | base64
# Feishu: HmacSHA256(key="1700000000\n" + secret, message=""), Base64:
#   K=$(printf '1700000000\n%s' "$S" | xxd -p | tr -d '\n')
#   printf '' | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$K" -binary | base64
SECRET = "SECb6f2a1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1"
DINGTALK_SIGN = "PfPz3KM8BATOKR8qTnzOE8P6mSoMXjcpxm%2Fw%2B3Lfstg%3D"
FEISHU_SIGN = "4LHjb4REG8mBWclZB/yu8iTc6WQ2EzA5H5DSgXSP9Gk="


def test_webhook_signature_is_the_standard_webhooks_test_vector() -> None:
    assert sign(WH_SECRET, WH_ID, WH_TS, WH_BODY) == WH_SIGNATURE
    headers = {"webhook-id": WH_ID, "webhook-timestamp": str(WH_TS), "webhook-signature": WH_SIGNATURE}
    assert verify(WH_SECRET, headers, WH_BODY, WH_TS)


def test_dingtalk_sign_is_the_documented_recipe_byte_for_byte() -> None:
    assert dingtalk_sign(SECRET, 1700000000000) == DINGTALK_SIGN
    assert urllib.parse.unquote(DINGTALK_SIGN) == "PfPz3KM8BATOKR8qTnzOE8P6mSoMXjcpxm/w+3Lfstg="


def test_feishu_sign_is_the_documented_recipe_byte_for_byte() -> None:
    assert feishu_sign(SECRET, 1700000000) == FEISHU_SIGN


def test_the_simulators_receivers_accept_the_vectors_and_refuse_any_change() -> None:
    receivers.check_vectors()
    headers = {"webhook-id": WH_ID, "webhook-timestamp": str(WH_TS), "webhook-signature": WH_SIGNATURE}
    assert receivers.webhook_signature_ok(WH_SECRET, headers, WH_BODY, WH_TS)
    assert not receivers.webhook_signature_ok(WH_SECRET, headers, WH_BODY + b" ", WH_TS)
    assert not receivers.webhook_signature_ok(WH_SECRET, {**headers, "webhook-id": "msg_other"}, WH_BODY, WH_TS)
    assert not receivers.webhook_signature_ok(WH_SECRET, headers, WH_BODY, WH_TS + 301)  # outside the window
    rotated = {**headers, "webhook-signature": "v1,bm90LXRoaXMtb25l " + WH_SIGNATURE}
    assert receivers.webhook_signature_ok(WH_SECRET, rotated, WH_BODY, WH_TS)  # any of several, as in rotation
    assert receivers.dingtalk_signature_ok(SECRET, 1700000000000, urllib.parse.unquote(DINGTALK_SIGN))
    assert not receivers.dingtalk_signature_ok(SECRET, 1700000000001, urllib.parse.unquote(DINGTALK_SIGN))
    assert receivers.feishu_expected(SECRET, 1700000000) == FEISHU_SIGN
    assert receivers.feishu_expected(SECRET, 1700000001) != FEISHU_SIGN


@pytest.mark.parametrize("name", ["WEBHOOK_VECTOR", "DINGTALK_VECTOR", "FEISHU_VECTOR"])
def test_a_receiver_that_drifts_from_its_known_answer_stops_the_simulator(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    vector = getattr(receivers, name)
    monkeypatch.setattr(receivers, name, (*vector[:-1], "v1,AAAA" if name == "WEBHOOK_VECTOR" else "AAAA"))
    with pytest.raises(RuntimeError, match="disagrees"):
        receivers.check_vectors()
