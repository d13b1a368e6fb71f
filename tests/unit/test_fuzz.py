"""Fuzzing every parser (hypothesis): arbitrary bytes, and real messages of each format mutated byte by
byte and field by field. Whatever comes in, the result is a warning or a rejection that names the field
and the problem: never a crash. Over 10,000 generated inputs per run, counted by each test."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.domain.models import WeatherWarning
from router.errors import InvalidMessage
from router.parsers import parse_message
from router.plan.config import RoutingConfig
from tests.support.messages import EXAMPLES

PER_TEST = 2600
FUZZ = settings(max_examples=PER_TEST, deadline=None, database=None, suppress_health_check=list(HealthCheck))
SAMPLES = {p.name: p.read_bytes() for p in sorted(EXAMPLES.iterdir())}
XML = [v for k, v in SAMPLES.items() if k.endswith(".xml")]
JSONS = [v for k, v in SAMPLES.items() if k.endswith(".json")]


@st.composite
def mutated(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    """A real message with a few bytes inserted, deleted or replaced."""
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(("insert", "delete", "replace")))
        chunk = draw(st.binary(min_size=1, max_size=16) | st.sampled_from([b"<", b">", b"&", b'"', b"]]>", b"\x00"]))
        if action == "insert":
            data[at:at] = chunk
        elif action == "delete":
            del data[at : at + len(chunk)]
        else:
            data[at : at + len(chunk)] = chunk
    return bytes(data)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def json_fields(draw: st.DrawFn) -> bytes:
    """A real JSON message with some fields given arbitrary JSON values, or removed."""
    message: dict[str, Any] = json.loads(draw(st.sampled_from(JSONS)))
    for key in draw(st.lists(st.sampled_from(sorted(message)), min_size=1, max_size=4)):
        if draw(st.booleans()):
            message[key] = draw(JSON_VALUES)
        else:
            message.pop(key, None)
    return json.dumps(message, ensure_ascii=draw(st.booleans())).encode()


def fuzz(config: RoutingConfig, strategy: st.SearchStrategy[bytes]) -> dict[str, int]:
    counts = {"inputs": 0, "accepted": 0, "rejected": 0}

    @FUZZ
    @given(strategy)
    def check(data: bytes) -> None:
        counts["inputs"] += 1
        warning: WeatherWarning | None = None
        reason: tuple[str, str] = ("", "")
        try:
            warning = parse_message(data, config)
        except InvalidMessage as exc:
            reason = (exc.field, exc.problem)
        if warning is None:
            assert all(reason), f"rejection without a reason: {reason!r}"
            counts["rejected"] += 1
        else:
            counts["accepted"] += 1

    check()
    print(f"\nfuzz: {counts}")
    assert counts["inputs"] >= PER_TEST * 0.95
    return counts


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[bytes]]] = {
    "bytes": lambda: st.binary(max_size=4096),
    "xml": lambda: mutated(XML),
    "json bytes": lambda: mutated(JSONS),
    "json fields": json_fields,
}


def test_fuzz_arbitrary_bytes(config: RoutingConfig) -> None:
    fuzz(config, STRATEGIES["bytes"]())


def test_fuzz_mutated_cap_and_national_xml(config: RoutingConfig) -> None:
    counts = fuzz(config, STRATEGIES["xml"]())
    assert counts["rejected"] > 0


def test_fuzz_mutated_json_bytes(config: RoutingConfig) -> None:
    fuzz(config, STRATEGIES["json bytes"]())


def test_fuzz_json_fields_with_arbitrary_values(config: RoutingConfig) -> None:
    counts = fuzz(config, STRATEGIES["json fields"]())
    assert counts["rejected"] > 0
