"""Properties of routing over generated warnings (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from router.domain.models import ActionKind, Hazard, MsgType, Product, Severity, Status, WeatherWarning
from router.plan.config import RoutingConfig, load_config
from router.routing.route import route
from tests.support.messages import CONFIG_DIR

CONFIG: RoutingConfig = load_config(CONFIG_DIR)
COUNTIES = CONFIG.counties()
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def warnings(draw: st.DrawFn, product: Product | None = None, hazard: Hazard | None = None) -> WeatherWarning:
    product = product or draw(st.sampled_from(list(Product)))
    allowed = CONFIG.products[product].hazards
    hazard = hazard or draw(st.sampled_from(list(allowed) if allowed else list(Hazard)))
    ranks = CONFIG.valid_ranks(product, hazard)
    rank = draw(st.sampled_from(ranks))
    severity = Severity(("blue", "yellow", "orange", "red")[rank - 1]) if rank else None
    issued = datetime(2026, 7, 15, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 60 * 24 * 365)))
    county = draw(st.sampled_from(COUNTIES))
    towns = sorted(t for t, c in CONFIG.township_county.items() if c == county)
    if product is Product.SIGNAL:
        areas = draw(
            st.one_of(st.just([county]), st.lists(st.sampled_from(towns), min_size=1, max_size=4, unique=True))
        )
        jurisdiction = county
    else:
        areas = draw(
            st.lists(
                st.sampled_from([CONFIG.city, *COUNTIES, *CONFIG.township_county]), min_size=1, max_size=5, unique=True
            )
        )
        jurisdiction = CONFIG.city
    onset = issued + timedelta(minutes=draw(st.integers(-60, 12 * 60))) if product is Product.NOWCAST else None
    return WeatherWarning(
        id=draw(st.text(min_size=1, max_size=20)),
        sender="bureau",
        issued_at=issued,
        status=draw(st.sampled_from(list(Status))),
        msg_type=MsgType.ALERT,
        product=product,
        hazard=hazard,
        hazard_name=draw(st.sampled_from(["雷雨大风", "地质灾害", "森林火险", "山洪"]))
        if hazard is Hazard.OTHER
        else hazard.value,
        severity=severity,
        jurisdiction=jurisdiction,
        areas=tuple(areas),
        onset=onset,
        key_townships=tuple(draw(st.lists(st.sampled_from(towns), max_size=3, unique=True))),
    )


@SETTINGS
@given(warnings())
def test_routing_never_raises_and_every_action_is_sound(w: WeatherWarning) -> None:
    decision = route(w, CONFIG)
    assert decision.actions, "no warning may go unrouted"
    for a in decision.actions:
        assert a.clause in CONFIG.plan.clauses
        assert a.due_at >= w.issued_at
        assert a.channels and set(a.channels) <= set(CONFIG.departments[a.department].channels)
        assert CONFIG.has_department(a.jurisdiction, a.department)
        if w.drill:
            assert not a.public and a.kind is not ActionKind.PHONE_REPORT
    assert len({a.key for a in decision.actions}) == len(decision.actions)


@SETTINGS
@given(st.data())
def test_a_higher_level_never_reaches_fewer_recipients(data: st.DataObject) -> None:
    lower = data.draw(warnings(product=data.draw(st.sampled_from([Product.SIGNAL, Product.REPORT]))))
    ranks = [r for r in CONFIG.valid_ranks(lower.product, lower.hazard) if r > lower.rank]
    assume(ranks)  # a warning at its hazard's highest grade has no higher one to compare with
    rank = data.draw(st.sampled_from(ranks))
    higher = lower.model_copy(
        update={"severity": Severity(("blue", "yellow", "orange", "red")[rank - 1]), "level": None}
    )
    higher = WeatherWarning.model_validate(higher.model_dump())
    low = {(a.department, a.jurisdiction) for a in route(lower, CONFIG).actions}
    high = {(a.department, a.jurisdiction) for a in route(higher, CONFIG).actions}
    assert low <= high
    low_mandatory = {a.key for a in route(lower, CONFIG).actions if a.mandatory}
    high_mandatory = {a.key for a in route(higher, CONFIG).actions if a.mandatory}
    assert low_mandatory <= high_mandatory


@SETTINGS
@given(st.data())
def test_rainstorm_orange_or_above_always_carries_both_direct_reports(data: st.DataObject) -> None:
    product = data.draw(st.sampled_from([Product.SIGNAL, Product.REPORT]))
    w = data.draw(warnings(product=product, hazard=Hazard.RAINSTORM).filter(lambda x: x.rank >= 3))
    actions = route(w, CONFIG).actions
    for hq in ("flood_drought_hq", "geohazard_hq"):
        report = [a for a in actions if a.key == (hq, w.jurisdiction, "direct_report", None)]
        assert len(report) == 1 and report[0].mandatory and report[0].clause == "4.3"
        assert report[0].due_at == w.issued_at + timedelta(minutes=10)
    if w.rank == 4 and not w.drill:
        leaders = {
            a.department for a in actions if a.kind is ActionKind.PHONE_REPORT and a.jurisdiction == w.jurisdiction
        }
        assert leaders == {"principal_leaders", "leader_in_charge", "flood_office_director"}
