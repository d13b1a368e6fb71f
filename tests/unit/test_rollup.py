"""Report totals: amounts summed, levels the highest, replaced reports left out, every total citing its
reports. The expected figures are written out by hand."""

from __future__ import annotations

from router.reports.rollup import totals


def test_amounts_add_up_levels_give_the_highest_and_a_replaced_report_gives_way() -> None:
    reports = [
        {"id": "a", "kind": "water", "jurisdiction": "530324", "figures": {"rainfall_mm": 80, "people_moved": 30}},
        {"id": "b", "kind": "water", "jurisdiction": "530324", "figures": {"rainfall_mm": 120.5, "people_moved": 12}},
        {"id": "c", "kind": "losses", "jurisdiction": "530381", "figures": {"dead": 3}, "replaced_by": "d"},
        {"id": "d", "kind": "losses", "jurisdiction": "530381", "figures": {"dead": 2, "direct_loss_wan": 7.5}},
        {"id": "e", "kind": "measures", "jurisdiction": "QJEDZ", "figures": {"people_moved": 5}},
    ]
    got = totals(reports, "530300")
    assert got["jurisdictions"]["530324"] == {
        "figures": {"rainfall_mm": 120.5, "people_moved": 42},
        "reports": ["a", "b"],
        "kinds": {"water": 2},
    }
    assert got["jurisdictions"]["530381"]["figures"] == {"dead": 2, "direct_loss_wan": 7.5}
    assert got["jurisdictions"]["530381"]["reports"] == ["d"]
    assert got["city"]["figures"] == {"rainfall_mm": 120.5, "people_moved": 47, "dead": 2, "direct_loss_wan": 7.5}
    assert got["city"]["reports"] == ["a", "b", "d", "e"]
    assert got["city"]["jurisdiction"] == "530300"
