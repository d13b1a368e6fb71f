"""Per-destination budgets, pure, on times written out by hand. Each window is counted one guard longer
than the provider's (1 s for windows of a minute and more, 2 % below that), since the provider counts a
message when it arrives."""

from __future__ import annotations

from router.delivery.budget import Budgets
from router.domain.channels import DEFAULT_LIMITS, Limit

ROBOT = "https://qyapi.example.invalid/cgi-bin/webhook/send?key=county"
PHONE = "+8613800138000"


def test_a_wecom_robot_takes_20_a_minute_and_ordinary_traffic_15_of_them() -> None:
    b = Budgets(DEFAULT_LIMITS)
    for t in range(15):  # blue and yellow traffic, one a second
        assert b.wait("wecom", ROBOT, False, float(t)) == (0.0, None)
        b.spend("wecom", ROBOT, float(t))
    # The sixteenth ordinary message waits until the first of the fifteen leaves the minute (t = 60, + 1).
    assert b.wait("wecom", ROBOT, False, 15.0) == (46.0, Limit(20, 60))
    # Urgent traffic has the five kept for it, at once.
    for t in range(15, 20):
        assert b.wait("wecom", ROBOT, True, float(t)) == (0.0, None)
        b.spend("wecom", ROBOT, float(t))
    assert b.wait("wecom", ROBOT, True, 20.0) == (41.0, Limit(20, 60))  # 20 in the minute: none more
    assert b.wait("wecom", "another robot", False, 20.0) == (0.0, None)  # per destination


def test_a_callee_takes_one_call_a_minute_five_an_hour_twenty_a_day() -> None:
    b = Budgets(DEFAULT_LIMITS)
    assert b.wait("voice", PHONE, False, 0.0)[0] == 0.0
    b.spend("voice", PHONE, 0.0)
    assert b.wait("voice", PHONE, False, 60.0) == (1.0, Limit(1, 60))  # a minute and the guard
    for t in (61.0, 122.0):  # three ordinary calls, a minute (and a second) apart: 3 of the hour's 5
        assert b.wait("voice", PHONE, False, t)[0] == 0.0
        b.spend("voice", PHONE, t)
    assert b.wait("voice", PHONE, False, 183.0) == (3418.0, Limit(5, 3600))  # until the first leaves the hour
    assert b.wait("voice", PHONE, True, 183.0) == (0.0, None)  # a red §4.3 phone report: at once
    b.spend("voice", PHONE, 183.0)
    assert b.wait("voice", PHONE, True, 203.0) == (41.0, Limit(1, 60))  # one a minute is one a minute


def test_a_send_counts_from_when_it_ended_for_the_provider_counted_it_when_it_arrived() -> None:
    """A call began at t = 0 and its answer came at t = 0.5: the provider counted it somewhere in between. The
    next call waits a minute and the guard from its end (t = 61.5), not from its start (t = 61)."""
    b = Budgets(DEFAULT_LIMITS)
    b.spend("voice", PHONE, 0.0)
    assert b.wait("voice", PHONE, True, 30.0) == (31.0, Limit(1, 60))  # while it is on the way
    b.settle("voice", PHONE, 0.0, 0.5)
    assert b.wait("voice", PHONE, True, 60.0) == (1.5, Limit(1, 60))
    # Two urgent calls at once, the later one answered first (at 1.5, the first at 2.0): the minute's one call
    # is free again a minute and the guard after the later end.
    b = Budgets(DEFAULT_LIMITS)
    b.spend("voice", PHONE, 0.0)
    b.spend("voice", PHONE, 1.0)
    b.settle("voice", PHONE, 1.0, 1.5)
    b.settle("voice", PHONE, 0.0, 2.0)
    assert b.wait("voice", PHONE, True, 10.0) == (53.0, Limit(1, 60))
    assert b.wait("voice", PHONE, True, 62.5) == (0.5, Limit(1, 60))


def test_channels_without_limits_are_never_held() -> None:
    b = Budgets(DEFAULT_LIMITS)
    for t in range(1000):
        b.spend("webhook", "https://hooks.example.invalid/x", float(t) / 100)
    assert b.wait("webhook", "https://hooks.example.invalid/x", False, 10.0) == (0.0, None)
