"""Parsers: each format normalises to the same WeatherWarning, and each rejection says why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from router.domain.models import Change, Hazard, Level, MsgType, Product, Severity, Status, WeatherWarning
from router.errors import InvalidMessage, MalformedMessage, UnknownSchema, UnroutableWarning
from tests.support.messages import EXAMPLES, cap_message, json_message, national_message

Parse = Callable[[bytes], WeatherWarning]
CST = timezone(timedelta(hours=8))

EXAMPLE_EXPECTATIONS = {
    # file: (product, hazard, severity, level, jurisdiction, msg_type, areas)
    "01-luoping-rainstorm-blue-signal.cap.xml": ("signal", "rainstorm", "blue", "IV", "530324", "alert", ["530324"]),
    "02-luoping-rainstorm-orange-upgrade.cap.xml": (
        "signal",
        "rainstorm",
        "orange",
        "II",
        "530324",
        "update",
        ["530324", "530324102"],
    ),
    "03-luoping-rainstorm-red-upgrade.cap.xml": (
        "signal",
        "rainstorm",
        "red",
        "I",
        "530324",
        "update",
        ["530324", "530324102"],
    ),
    "04-city-rainstorm-level-ii-report.json": (
        "report",
        "rainstorm",
        "orange",
        "II",
        "530300",
        "alert",
        ["530324", "530323", "530325"],
    ),
    "05-city-heavy-rain-nowcast.json": (
        "nowcast",
        "rainstorm",
        None,
        None,
        "530300",
        "alert",
        ["530324102", "530324103", "530324201", "530323102"],
    ),
    "06-xuanwei-gale-blue-signal.national.xml": ("signal", "gale", "blue", "IV", "530381", "alert", ["530381"]),
    "07-city-cold-wave-forecast.json": ("forecast", "cold_wave", None, None, "530300", "alert", ["530300"]),
    "08-luoping-rainstorm-lift.cap.xml": ("signal", "rainstorm", "red", "I", "530324", "cancel", ["530324"]),
    "09-huize-thunderstorm-gale-yellow.national.xml": (
        "signal",
        "other",
        "yellow",
        "III",
        "530326",
        "alert",
        ["530326102", "530326103"],
    ),
    "10-zhanyi-lightning-orange-drill.json": ("signal", "lightning", "orange", "II", "530303", "alert", ["530303"]),
}


def test_every_example_has_an_expectation() -> None:
    """A new example file without a row here fails, so the table stays complete."""
    assert {p.name for p in EXAMPLES.iterdir()} == set(EXAMPLE_EXPECTATIONS)


@pytest.mark.parametrize("name", sorted(EXAMPLE_EXPECTATIONS))
def test_examples_normalise(parse: Parse, name: str) -> None:
    """Each bundled example parses to the product, hazard, grade, jurisdiction and areas it states."""
    w = parse((EXAMPLES / name).read_bytes())
    product, hazard, severity, level, jurisdiction, msg_type, areas = EXAMPLE_EXPECTATIONS[name]
    assert (w.product.value, w.hazard.value) == (product, hazard)
    assert (w.severity.value if w.severity else None, w.level.value if w.level else None) == (severity, level)
    assert (w.jurisdiction, w.msg_type.value, list(w.areas)) == (jurisdiction, msg_type, areas)


def test_cap_prefers_zh_info_and_keeps_identity(parse: Parse) -> None:
    """The bilingual CMA message keeps the Chinese event name and its CAP reference's identifier."""
    w = parse((EXAMPLES / "02-luoping-rainstorm-orange-upgrade.cap.xml").read_bytes())
    assert w.hazard_name == "暴雨"
    assert w.references == ("53032441600000_20260715080000",)
    assert w.change is Change.UPGRADE
    assert w.issued_at == datetime(2026, 7, 15, 11, 0, tzinfo=CST)
    assert w.expires == datetime(2026, 7, 16, 8, 0, tzinfo=CST)


def test_national_sendtime_with_space_and_coded_event(parse: Parse) -> None:
    w = parse(national_message())
    assert w.issued_at == datetime(2026, 11, 20, 9, 30, tzinfo=CST)
    assert (w.hazard, w.severity, w.product) == (Hazard.GALE, Severity.BLUE, Product.SIGNAL)


def test_national_bare_references_and_comma_geocodes(parse: Parse) -> None:
    w = parse(
        national_message(
            msg_type="Update", references="53038141600000_20261119093000", geocode="530381102000,530381103000"
        )
    )
    assert w.references == ("53038141600000_20261119093000",)
    assert w.areas == ("530381102", "530381103")


def test_time_without_zone_is_beijing_time(parse: Parse) -> None:
    w = parse(json_message(sent="2026-07-15T08:00:00"))
    assert w.issued_at.utcoffset() == timedelta(hours=8)
    assert w.issued_at.hour == 8


def test_compact_time_form(parse: Parse) -> None:
    w = parse(national_message(send_time="20261120093000"))
    assert w.issued_at == datetime(2026, 11, 20, 9, 30, tzinfo=CST)


def test_upgrade_headline_names_both_colours_structured_field_wins(parse: Parse) -> None:
    """With severity Unknown, the last colour of an upgrade headline is the new one."""
    w = parse(
        cap_message(
            severity="Unknown",
            headline="罗平县气象台将暴雨黄色预警信号升级为橙色预警信号",
            msg_type="Update",
            references="s,53032441600000_20260715070000,2026-07-15T07:00:00+08:00",
        )
    )
    assert w.severity is Severity.ORANGE
    assert w.change is Change.UPGRADE
    w2 = parse(cap_message(severity="Extreme", headline="罗平县气象台将暴雨黄色预警信号升级为橙色预警信号"))
    assert w2.severity is Severity.RED


def test_level_suffix_alone_gives_the_grade(parse: Parse) -> None:
    w = parse(cap_message(severity="Unknown", headline="罗平县气象台发布暴雨预警信号[Ⅱ级/严重]"))
    assert (w.level, w.severity) == (Level.II, Severity.ORANGE)


def test_report_level_from_json_fills_severity(parse: Parse) -> None:
    w = parse(json_message(product="report", severity=None, level="I", sender_code="53030041600000", areas=["530300"]))
    assert (w.severity, w.jurisdiction) == (Severity.RED, "530300")


def test_product_from_headline_words(parse: Parse) -> None:
    nowcast = cap_message(
        identifier="53030041600000_20260715120000",
        headline="曲靖市气象局发布强降水短时临近预报",
        event="强降水",
        extra_info="<onset>2026-07-15T20:00:00+08:00</onset>",
    )
    assert parse(nowcast).product is Product.NOWCAST
    forecast = cap_message(
        identifier="53030041600000_20260715120000",
        headline="曲靖市重要天气预报",
        event="寒潮",
        geocodes=("530300000000",),
    )
    assert parse(forecast).product is Product.FORECAST
    report = cap_message(
        identifier="53030041600000_20260715120000",
        headline="曲靖市气象台发布暴雨Ⅲ级预警",
        severity="Unknown",
        geocodes=("530300000000",),
    )
    assert (parse(report).product, parse(report).level) == (Product.REPORT, Level.III)


def test_county_sender_makes_a_signal_whatever_the_headline_word(parse: Parse) -> None:
    """County observatories issue signals (§4.2.3), even when the headline says only 预警."""
    w = parse(national_message(headline="宣威市气象局发布大风蓝色预警[IV级/一般]"))
    assert w.product is Product.SIGNAL


@pytest.mark.parametrize(
    ("event", "headline", "hazard", "name"),
    [
        ("雷雨大风", "会泽县气象台发布雷雨大风黄色预警信号", Hazard.OTHER, "雷雨大风"),
        ("山洪灾害", "会泽县山洪灾害黄色预警", Hazard.OTHER, "山洪灾害"),
        ("rainstorm", "", Hazard.RAINSTORM, "rainstorm"),
        ("道路结冰", "", Hazard.ROAD_ICING, "道路结冰"),
    ],
)
def test_event_names(parse: Parse, event: str, headline: str, hazard: Hazard, name: str) -> None:
    """Known names map to hazards; unknown event types are kept as `other` with their name."""
    w = parse(
        cap_message(
            identifier="53032641600000_20260802151000",
            event=event,
            severity="Moderate",
            headline=headline,
            geocodes=("530326000000",),
        )
    )
    assert (w.hazard, w.hazard_name) == (hazard, name)


def test_headline_prefers_the_longest_name(parse: Parse) -> None:
    """Without an event type (national XML; CAP requires <event>), 雷雨大风 in a headline is not read as 大风."""
    w = parse(
        national_message(
            sender_code="53032641600000",
            event_type="",
            severity="Yellow",
            headline="会泽县气象台发布雷雨大风黄色预警信号",
            geocode="530326000000",
        )
    )
    assert (w.hazard, w.hazard_name) == (Hazard.OTHER, "雷雨大风")


def test_unknown_event_code_is_other(parse: Parse) -> None:
    w = parse(national_message(event_type="11B99", headline="宣威市气象台发布未知灾害蓝色预警信号"))
    assert (w.hazard, w.hazard_name) == (Hazard.OTHER, "11B99")


def test_village_code_counts_as_its_township(parse: Parse) -> None:
    w = parse(cap_message(geocodes=("530324102201",)))
    assert w.areas == ("530324102",)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            cap_message(
                msg_type="Update",
                references="s,x,2026-07-15T07:00:00+08:00",
                extra_info="<responseType>AllClear</responseType>",
            ),
            True,
        ),
        (
            cap_message(
                msg_type="Update",
                references="s,x,2026-07-15T07:00:00+08:00",
                headline="罗平县气象台解除暴雨蓝色预警信号",
            ),
            True,
        ),
        (json_message(msg_type="update", all_clear=True, references=["x"]), True),
        (cap_message(msg_type="Update", references="s,x,2026-07-15T07:00:00+08:00"), False),
    ],
)
def test_all_clear_updates_end_the_warning(parse: Parse, message: bytes, expected: bool) -> None:
    w = parse(message)
    assert w.all_clear is expected
    assert w.ends is expected


def test_cancel_ends_and_drill_status(parse: Parse) -> None:
    w = parse(cap_message(msg_type="Cancel", references="s,x,2026-07-15T07:00:00+08:00", status="Exercise"))
    assert (w.msg_type, w.ends, w.status, w.drill) == (MsgType.CANCEL, True, Status.EXERCISE, True)


REJECTIONS = [
    # (case, message, exception, field, problem substring)
    (
        "red frost",
        cap_message(event="霜冻", severity="Extreme", headline="罗平县气象台发布霜冻红色预警信号"),
        UnroutableWarning,
        "alert/info/severity",
        "red frost signal does not exist nationally",
    ),
    (
        "blue hail",
        cap_message(event="冰雹", severity="Minor", headline="冰雹蓝色预警信号"),
        UnroutableWarning,
        "alert/info/severity",
        "blue hail signal does not exist",
    ),
    (
        "blue lightning",
        national_message(event_type="11B14", headline="雷电蓝色预警信号"),
        UnroutableWarning,
        "alert/info/severity",
        "blue lightning signal",
    ),
    ("blue heat", json_message(hazard="heat"), UnroutableWarning, "severity", "blue heat signal"),
    ("blue fog", json_message(hazard="fog"), UnroutableWarning, "severity", "blue fog signal"),
    ("blue road icing", json_message(hazard="road_icing"), UnroutableWarning, "severity", "blue road icing"),
    (
        "yellow drought",
        json_message(hazard="drought", severity="yellow"),
        UnroutableWarning,
        "severity",
        "yellow drought signal",
    ),
    (
        "area outside",
        cap_message(geocodes=("410000000000",)),
        UnroutableWarning,
        "alert/info/area/geocode",
        "area 410000000000 is outside the configured jurisdictions",
    ),
    (
        "unknown township",
        cap_message(geocodes=("530324999000",)),
        UnroutableWarning,
        "alert/info/area/geocode",
        "not a known township of 罗平县 530324",
    ),
    ("foreign geocode", json_message(areas=["123456"]), UnroutableWarning, "areas", "area 123456 is outside"),
    (
        "signal spans counties",
        json_message(identifier="x-1", sender_code=None, areas=["530324", "530322"]),
        UnroutableWarning,
        "areas",
        "one county observatory",
    ),
    (
        "signal area in other county",
        json_message(areas=["530322"]),
        UnroutableWarning,
        "areas",
        "area 530322 is outside the issuing county 530324",
    ),
    ("draft", cap_message(status="Draft"), UnroutableWarning, "alert/status", "not routed"),
    ("ack", cap_message(msg_type="Ack"), UnroutableWarning, "alert/msgType", "not routed"),
    ("cancel without references", cap_message(msg_type="Cancel"), InvalidMessage, "alert/references", "must reference"),
    (
        "nowcast without onset",
        json_message(product="nowcast", severity=None, sender_code="53030041600000"),
        InvalidMessage,
        "onset",
        "needs the expected onset",
    ),
    (
        "nowcast of gale",
        json_message(product="nowcast", hazard="gale", severity=None, onset="2026-07-15T20:00:00+08:00"),
        UnroutableWarning,
        "event",
        "a nowcast is for rainstorm, not gale",
    ),
    (
        "no grade",
        cap_message(severity="Unknown", headline="罗平县暴雨预警信号"),
        InvalidMessage,
        "alert/info/severity",
        "needs a colour or a level",
    ),
    ("bad severity word", cap_message(severity="Purple"), InvalidMessage, "alert/info/severity", "unknown severity"),
    ("bad time", cap_message(sent="yesterday"), InvalidMessage, "alert/sent", "not an ISO 8601 date-time"),
    ("missing identifier", cap_message(identifier=""), InvalidMessage, "alert/identifier", "missing"),
    (
        "expires before sent",
        json_message(expires="2026-07-15T07:00:00+08:00"),
        InvalidMessage,
        "expires",
        "at or before",
    ),
    ("level and severity disagree", json_message(level="I"), InvalidMessage, "severity", "disagree"),
    ("json unknown field", json_message(colour="red"), InvalidMessage, "colour", "unknown field"),
    ("json wrong schema", json_message(schema="other/2"), UnknownSchema, "schema", "warnroute.warning/1"),
    ("json bad area", json_message(areas=["5303"]), InvalidMessage, "areas.0", "should match pattern"),
    ("json malformed", b'{"schema": "warnroute.warning/1", ', MalformedMessage, "json", "not well-formed JSON"),
    (
        "no hazard",
        cap_message(event="", headline="罗平县气象台发布蓝色预警信号"),
        InvalidMessage,
        "alert/info/event",
        "no event",
    ),
    (
        "unknown key township",
        json_message(
            product="nowcast",
            severity=None,
            onset="2026-07-15T20:00:00+08:00",
            areas=["530324102"],
            key_townships=["530324998"],
        ),
        UnroutableWarning,
        "key_townships",
        "530324998",
    ),
    ("plain text", b"rainstorm warning for Luoping", UnknownSchema, "message", "neither XML nor JSON"),
    ("empty", b"   ", MalformedMessage, "message", "empty"),
    ("other xml", b"<feed><entry/></feed>", UnknownSchema, "message", "neither CAP 1.2 nor the national XML"),
    (
        "cap 1.1",
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"><identifier>x</identifier></alert>',
        UnknownSchema,
        "alert",
        "CAP 1.1 is not accepted",
    ),
]


@pytest.mark.parametrize(("case", "message", "exc", "field", "problem"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejections_name_field_and_problem(
    parse: Parse, case: str, message: bytes, exc: type[InvalidMessage], field: str, problem: str
) -> None:
    with pytest.raises(exc) as info:
        parse(message)
    assert info.value.field == field, case
    assert problem in info.value.problem, case
