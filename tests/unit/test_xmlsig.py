"""XML signatures on CAP messages, when a bureau certificate is configured: signed by it → accepted,
and what is routed is the signed content; unsigned, tampered, signed by another key, or with its
identifier changed → rejected naming the Signature."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import trustme
from lxml import etree
from prometheus_client import CollectorRegistry
from signxml.signer import XMLSigner

from router.delivery.feed import FeedHub
from router.errors import UnsignedMessage
from router.ingest.service import IngestService
from router.metrics import Metrics
from router.parsers.xmlsig import XmlSignatures
from router.plan.config import RoutingConfig
from router.store import SqliteStore
from tests.support.messages import EXAMPLES, issue_clock, json_message

CAP = (EXAMPLES / "01-luoping-rainstorm-blue-signal.cap.xml").read_bytes()


def sign(data: bytes, issued: trustme.LeafCert) -> bytes:
    root = etree.fromstring(data)
    signed = XMLSigner().sign(root, key=issued.private_key_pem.bytes(), cert=issued.cert_chain_pems[0].bytes().decode())
    return bytes(etree.tostring(signed))


@pytest.fixture
def bureau(tmp_path: Path) -> tuple[XmlSignatures, trustme.LeafCert]:
    leaf = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("qujing.weather.invalid", key_type=trustme.KeyType.RSA)
    pem = tmp_path / "bureau.pem"
    leaf.cert_chain_pems[0].write_to_path(pem)
    return XmlSignatures(pem), leaf


def test_a_message_signed_by_the_bureau_is_accepted_as_signed(bureau: tuple[XmlSignatures, trustme.LeafCert]) -> None:
    check, leaf = bureau
    content = check.signed_content(sign(CAP, leaf))
    assert b"Luoping" in content or "罗平".encode() in content
    assert b"Signature" not in content  # what is routed is the signed content, signature removed


@pytest.mark.parametrize("case", ["unsigned", "tampered", "another key", "identifier changed"])
def test_bad_signatures_are_rejected_naming_the_signature(
    bureau: tuple[XmlSignatures, trustme.LeafCert], case: str
) -> None:
    check, leaf = bureau
    signed = sign(CAP, leaf)
    data = {
        "unsigned": CAP,
        "tampered": signed.replace(b"Minor", b"Extreme", 1),
        "another key": sign(
            CAP, trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("forger.invalid", key_type=trustme.KeyType.RSA)
        ),
        "identifier changed": signed.replace(b"<identifier>", b"<identifier>X", 1),
    }[case]
    assert data != signed or case == "unsigned"
    with pytest.raises(UnsignedMessage) as info:
        check.signed_content(data)
    assert info.value.field == "Signature" and info.value.problem


def test_ingest_requires_the_signature_and_json_passes_to_signed_ingest(
    config: RoutingConfig, tmp_path: Path, bureau: tuple[XmlSignatures, trustme.LeafCert]
) -> None:
    check, leaf = bureau

    async def scenario() -> None:
        store = SqliteStore(tmp_path / "db.sqlite")
        await store.open()
        service = IngestService(
            config,
            store,
            Metrics(CollectorRegistry()),
            FeedHub(),
            lambda: None,
            clock=issue_clock(json_message()),
            signatures=check,
        )
        with pytest.raises(UnsignedMessage):
            await service.submit(CAP)
        accepted = await service.submit(sign(CAP, leaf))
        assert accepted.outcome.status == "created" and accepted.warning.hazard.value == "rainstorm"
        assert (await service.submit(json_message())).outcome.status == "created"
        await store.close()

    asyncio.run(scenario())
