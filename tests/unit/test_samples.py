"""Every real sample message either parses or is rejected with the right reason.

The samples (tests/data/samples, each with a .src.txt naming its source) are public messages from
China's national platform, Macao, Europe, the US and the CAP specification. None is for Qujing, so
the right outcome for each is a precise rejection; the table says which.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from router.errors import InvalidMessage, UnknownSchema, UnroutableWarning
from router.parsers import parse_message
from router.plan.config import RoutingConfig
from tests.support.messages import DATA

SAMPLES = DATA / "samples"
OUTSIDE = "is outside the configured jurisdictions"
NO_GEOCODE = "has no geocode"
GEOCODE = "alert/info/area/geocode"

EXPECTED: dict[str, tuple[type[InvalidMessage], str, str]] = {
    # file: (rejection, field, problem substring)
    "cn_henan_qxj_gale_blue_update_gbt35965.xml": (UnroutableWarning, GEOCODE, f"area 410000000000 {OUTSIDE}"),
    "cn_macao_smg_strong_monsoon_signal_cancelled_update_allclear.xml": (UnroutableWarning, GEOCODE, NO_GEOCODE),
    "eu_dwd_severe_thunderstorm_update.xml": (UnroutableWarning, GEOCODE, f"area 814626190 {OUTSIDE}"),
    "eu_meteoalarm_rhms_serbia_thunderstorm_yellow_update.xml": (
        UnroutableWarning,
        GEOCODE,
        f"'EMMA_ID RS010' {OUTSIDE}",
    ),
    "eu_meteofrance_vigilance_yellow_thunderstorm_multiarea_alert.xml": (
        UnroutableWarning,
        GEOCODE,
        f"'NUTS3 FR821' {OUTSIDE}",
    ),
    "oasis_cap12_specA1_homeland_security_alert.xml": (UnroutableWarning, GEOCODE, NO_GEOCODE),
    "oasis_cap12_specA2_severe_thunderstorm_warning.xml": (UnroutableWarning, GEOCODE, f"area 006109 {OUTSIDE}"),
    "oasis_cap12_specA3_earthquake_report_update.xml": (UnroutableWarning, GEOCODE, NO_GEOCODE),
    "oasis_cap12_specA4_amber_alert.xml": (UnroutableWarning, GEOCODE, f"area 006037 {OUTSIDE}"),
    "us_ipaws_cancel_signed.xml": (InvalidMessage, "alert/info", "says nothing about the hazard or the area"),
    "us_nws_cap11_blizzard_warning_alert.xml": (UnknownSchema, "alert", "CAP 1.1 is not accepted"),
    "us_nws_wcatwc_tsunami_cancellation_update.xml": (UnroutableWarning, GEOCODE, NO_GEOCODE),
}


def test_table_covers_every_sample() -> None:
    """Adding a sample without saying what must happen to it fails here."""
    assert {p.name for p in SAMPLES.glob("*.xml")} == set(EXPECTED)
    assert all((SAMPLES / name.replace(".xml", ".src.txt")).is_file() for name in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_outcome(config: RoutingConfig, name: str) -> None:
    kind, field, problem = EXPECTED[name]
    with pytest.raises(InvalidMessage) as info:
        parse_message((SAMPLES / name).read_bytes(), config)
    assert type(info.value) is kind
    assert info.value.field == field
    assert problem in info.value.problem


def test_henan_sample_parses_once_its_area_is_configured(config: RoutingConfig, tmp_path: Path) -> None:
    """The national-XML sample is rejected for its area only: with Henan configured, it routes as a gale."""
    import shutil

    from router.plan.config import load_config

    shutil.copytree(config.directory, tmp_path / "config")
    departments = tmp_path / "config" / "departments.yaml"
    text = departments.read_text(encoding="utf-8")
    departments.write_text(
        text.replace('  "530302":\n', '  "410000":\n    zh: 河南省\n    level: county\n  "530302":\n', 1),
        encoding="utf-8",
    )
    henan = load_config(tmp_path / "config")
    w = parse_message((SAMPLES / "cn_henan_qxj_gale_blue_update_gbt35965.xml").read_bytes(), henan)
    assert (w.hazard.value, w.severity.value if w.severity else None, w.msg_type.value) == ("gale", "blue", "update")
    assert (w.product.value, w.jurisdiction, w.change.value if w.change else None) == ("signal", "410000", "continue")
    assert w.references == ("41000041600000_20200204121842",)
