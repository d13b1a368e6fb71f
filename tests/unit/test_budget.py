"""Per-destination budgets, pure, on times written out by hand."""

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
    # The sixteenth ordinary message waits until the first of the fifteen leaves the minute (t = 60).
    assert b.wait("wecom", ROBOT, False, 15.0) == (45.0, Limit(20, 60))
    # Urgent traffic has the five kept for it, at once.
    for t in range(15, 20):
        assert b.wait("wecom", ROBOT, True, float(t)) == (0.0, None)
        b.spend("wecom", ROBOT, float(t))
    assert b.wait("wecom", ROBOT, True, 20.0) == (40.0, Limit(20, 60))  # 20 in the minute: none more
    assert b.wait("wecom", "another robot", False, 20.0) == (0.0, None)  # per destination


def test_a_callee_takes_one_call_a_minute_five_an_hour_twenty_a_day() -> None:
    b = Budgets(DEFAULT_LIMITS)
    for t in (0.0, 60.0, 120.0):  # three ordinary calls, a minute apart: 3 of the hour's 5 are theirs
        assert b.wait("voice", PHONE, False, t)[0] == 0.0
        b.spend("voice", PHONE, t)
    assert b.wait("voice", PHONE, False, 180.0) == (3420.0, Limit(5, 3600))  # until the first leaves the hour
    assert b.wait("voice", PHONE, True, 180.0) == (0.0, None)  # a red §4.3 phone report: at once
    b.spend("voice", PHONE, 180.0)
    assert b.wait("voice", PHONE, True, 200.0) == (40.0, Limit(1, 60))  # one a minute is one a minute


def test_channels_without_limits_are_never_held() -> None:
    b = Budgets(DEFAULT_LIMITS)
    for t in range(1000):
        b.spend("webhook", "https://hooks.example.invalid/x", float(t) / 100)
    assert b.wait("webhook", "https://hooks.example.invalid/x", False, 10.0) == (0.0, None)
