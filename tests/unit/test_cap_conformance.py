"""What CAP 1.2 requires is refused when it is missing, naming the element; identifiers and senders may not
carry spaces or commas (CAP 1.2 §3.2.1), since references join them by commas."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from router.domain.models import WeatherWarning
from router.errors import InvalidMessage
from tests.support.messages import cap_message

Parse = Callable[[bytes], WeatherWarning]
GOOD = cap_message().decode()


def without(element: str) -> bytes:
    start = GOOD.index(f"<{element}>")
    end = GOOD.index(f"</{element}>") + len(f"</{element}>")
    return (GOOD[:start] + GOOD[end:]).encode()


@pytest.mark.parametrize(
    ("element", "field"),
    [
        ("scope", "alert/scope"),
        ("status", "alert/status"),
        ("category", "alert/info/category"),
        ("urgency", "alert/info/urgency"),
        ("certainty", "alert/info/certainty"),
        ("severity", "alert/info/severity"),
        ("event", "alert/info/event"),
        ("areaDesc", "alert/info/area/areaDesc"),
    ],
)
def test_a_missing_required_element_is_refused_by_its_name(parse: Parse, element: str, field: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse(without(element))
    assert caught.value.field == field
    assert f"CAP 1.2 requires <{element}>" in caught.value.problem


@pytest.mark.parametrize(
    ("kwargs", "field", "problem"),
    [
        ({"identifier": "53032441600000 20260715080000"}, "alert/identifier", "CAP 1.2 forbids spaces in <identifier>"),
        ({"identifier": "a,b"}, "alert/identifier", "CAP 1.2 forbids commas in <identifier>"),
        ({"sender": "Luoping County Observatory"}, "alert/sender", "CAP 1.2 forbids spaces in <sender>"),
        ({"sender": "luoping,qujing"}, "alert/sender", "CAP 1.2 forbids commas in <sender>"),
    ],
)
def test_spaces_and_commas_in_identifier_or_sender_are_refused(
    parse: Parse, kwargs: dict[str, str], field: str, problem: str
) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse(cap_message(**kwargs))  # type: ignore[arg-type]  # str fields only
    assert (caught.value.field, caught.value.problem.split(" (")[0]) == (field, problem)


def test_an_alert_without_info_still_parses_as_far_as_cap_goes(parse: Parse) -> None:
    """CAP allows an alert with no info block (a bare Cancel); the router then says what it lacks."""
    start, end = GOOD.index("<info>"), GOOD.index("</info>") + len("</info>")
    with pytest.raises(InvalidMessage) as caught:
        parse((GOOD[:start] + GOOD[end:]).encode())
    assert caught.value.field == "alert/info"
