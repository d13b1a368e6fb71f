"""The storm-night soak, 75 seconds of it (``python -m tests.soak --minutes 30`` is the long one): mixed
warnings, a provider outage and a ``kill -9`` of the router, then nothing lost, nothing duplicated at the
receivers and every breach explained."""

from __future__ import annotations

from pathlib import Path

from tests.soak import report, run


def test_a_storm_night_soaked_loses_nothing_duplicates_nothing_and_explains_every_breach(
    tmp_path: Path,
) -> None:
    figures = run(tmp_path, minutes=1.25, seed=7, shrink=1 / 60)  # 30 minutes become 30 s
    print("\n" + report(figures))
    assert figures.kills >= 1 and figures.outages >= 1  # the troubles really happened
    # The bureau sends one message every 4 s: about 18 in 75 s, each accepted once the router is back.
    assert figures.warnings_accepted >= 15 and figures.warnings_accepted == figures.messages_sent
    assert figures.delivered > 0 and figures.acknowledged > 0
    assert sum(figures.breaches.values()) > 0  # some obligations were left to breach, and were
    assert figures.lost == []
    assert figures.duplicated == []
    assert figures.unexplained == []
