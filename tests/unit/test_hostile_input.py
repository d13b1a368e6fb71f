"""Hostile input: entity tricks, DTDs, oversize and deep nesting are refused with a reason, quickly."""

from __future__ import annotations

import pytest

from router.errors import InvalidMessage, MalformedMessage
from router.parsers import parse_message
from router.parsers.xmlsafe import MAX_BYTES, MAX_DEPTH, MAX_ELEMENTS
from router.plan.config import RoutingConfig
from tests.support.messages import cap_message

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"

XXE = f"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="{CAP_NS}"><identifier>&xxe;</identifier></alert>""".encode()

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<alert>&lol9;</alert>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/evil.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x"> %remote;]>
<alert/>"""

CASES = [
    ("xxe", XXE, "xml", "DTD"),
    ("billion laughs", BILLION_LAUGHS, "xml", "DTD"),
    ("external dtd", EXTERNAL_DTD, "xml", "DTD"),
    ("parameter entity", PARAMETER_ENTITY, "xml", "DTD"),
    (
        "deep nesting",
        b"<alert>" + b"<a>" * (MAX_DEPTH + 5) + b"</a>" * (MAX_DEPTH + 5) + b"</alert>",
        "xml",
        f"nested deeper than {MAX_DEPTH}",
    ),
    ("very deep nesting", b"<a>" * 100_000 + b"</a>" * 100_000, "xml", f"nested deeper than {MAX_DEPTH}"),
    (
        "too many elements",
        b"<alert>" + b"<a/>" * (MAX_ELEMENTS + 1) + b"</alert>",
        "xml",
        f"more than {MAX_ELEMENTS} elements",
    ),
    ("oversized", b"<alert>" + b" " * (MAX_BYTES + 1) + b"</alert>", "message", f"over the {MAX_BYTES}-byte limit"),
    ("oversized json", b'{"schema": "' + b"x" * (MAX_BYTES + 1) + b'"}', "message", f"over the {MAX_BYTES}-byte limit"),
    ("unclosed", b"<alert><identifier>x</alert>", "xml", "not well-formed"),
    ("bad encoding", b'<?xml version="1.0" encoding="UTF-8"?><alert>\xff\xfe</alert>', "xml", "not well-formed"),
    ("nul bytes", b"<alert>\x00</alert>", "xml", "not well-formed"),
    ("deep json", b'{"schema": ' + b"[" * 5000 + b"]" * 5000 + b"}", "json", "recursion limit exceeded"),
]


@pytest.mark.parametrize(("case", "data", "field", "problem"), CASES, ids=[c[0] for c in CASES])
def test_hostile_xml_and_json_rejected(config: RoutingConfig, case: str, data: bytes, field: str, problem: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_message(data, config)
    assert problem, case  # every case names the problem it expects
    assert info.value.field == field, case
    assert problem in info.value.problem, case
    if field == "xml":
        assert isinstance(info.value, MalformedMessage)


def test_entity_content_never_reaches_the_warning(config: RoutingConfig) -> None:
    """Even an internal entity (no DTD tricks needed to abuse it) is refused, not expanded."""
    data = cap_message().replace(
        b'<?xml version="1.0" encoding="UTF-8"?>', b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY e "x">]>'
    )
    with pytest.raises(MalformedMessage, match="DTD"):
        parse_message(data, config)


def test_long_fields_are_refused(config: RoutingConfig) -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_message(cap_message(headline="暴雨" * 400), config)
    assert info.value.field == "alert/info/headline"
    assert "500-character limit" in info.value.problem


def test_random_bytes_never_crash(config: RoutingConfig) -> None:
    """Arbitrary bytes are rejected with a reason, never an unexpected exception."""
    import random

    rng = random.Random(20261124)
    seeds = [cap_message(), b'{"schema": "warnroute.warning/1"}', b"<alert><info/></alert>"]
    reasons: list[str] = []
    for _ in range(2000):
        base = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            base[rng.randrange(len(base))] = rng.randrange(256)
        try:
            parse_message(bytes(base), config)
        except InvalidMessage as exc:
            reasons.append(exc.problem)
    assert reasons and all(reasons)
