"""Pure routing: (warning, config, now, previous decision) → Decision. No I/O, no clock, no async.

The rule semantics are documented at the top of config/warnings.yaml. In short: every matching
rule contributes; actions are merged per (department, jurisdiction, kind, task); an Update given
the decision it refers to yields only what is new plus one ``inform`` per department told before;
a lift yields one ``lift`` per department told before.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from router.domain.models import (
    Action,
    ActionKind,
    ActionSpec,
    Decision,
    Hazard,
    Layout,
    MsgType,
    WeatherWarning,
)
from router.plan.config import CompiledAction, RoutingConfig

_CACHE_LIMIT = 4096
_new_action = functools.partial(tuple.__new__, Action)  # Action((spec, due)) without a Python call per action


def route(
    warning: WeatherWarning,
    config: RoutingConfig,
    now: datetime | None = None,
    previous: Decision | None = None,
) -> Decision:
    """Decide who must do what for ``warning``.

    ``previous`` is the decision for the message this one updates or lifts (None if unknown);
    ``now`` only adds notes (an expired warning, a deadline already passed), it never changes who
    is told or the deadlines, which count from the issue time and the expected onset.
    """
    layout = _layout(warning, config)
    fresh = tuple(map(_new_action, zip(layout.specs, [layout.dues[i] for i in layout.timing_of], strict=True)))
    notes: list[str] = []
    if now is not None:
        notes += _late_notes(warning, layout, now)
    if warning.ends:
        if previous is None:
            told = fresh
            notes.append("lifted warning unknown: lift sent to every department this warning would reach")
        else:
            told = previous.told
        actions = _lifecycle(told, (), warning, config, ActionKind.LIFT)
        return Decision(warning, actions, (), reference_unknown=previous is None, notes=tuple(notes))
    if warning.msg_type is MsgType.UPDATE:
        if previous is None:
            notes.append("updated warning unknown: routed as a new warning")
            return Decision(warning, fresh, fresh, reference_unknown=True, notes=tuple(notes), layout=layout)
        before = {a.key: a for a in previous.told}
        # New: an obligation not asked before, or one the new level asks for under more rules
        # (e.g. the mandatory 30-minute broadcast that an orange signal adds to the blue one's).
        new = tuple(a for a in fresh if a.key not in before or not set(a.rules) <= set(before[a.key].rules))
        reached = {(a.department, a.jurisdiction) for a in new}
        informs = _lifecycle(previous.told, reached, warning, config, ActionKind.INFORM)
        now_keys = {a.key for a in fresh}
        told = fresh + tuple(a for a in previous.told if a.key not in now_keys)
        return Decision(warning, new + informs, told, notes=tuple(notes))
    return Decision(warning, fresh, fresh, notes=tuple(notes), layout=layout)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The merged action specs of one classification, and which deadline rule each one follows."""

    specs: tuple[ActionSpec, ...]
    timings: tuple[tuple[tuple[int | None, float], ...], ...]  # the distinct timings
    timing_of: tuple[int, ...]  # per spec, an index into ``timings``


def _layout(w: WeatherWarning, config: RoutingConfig) -> Layout:
    plan = _plan(w, config)
    dues = tuple(min(_due(before, minutes, w) for before, minutes in timing) for timing in plan.timings)
    return Layout(plan.specs, plan.timing_of, dues)


def _plan(w: WeatherWarning, config: RoutingConfig) -> _Plan:
    key = (
        w.product,
        w.hazard,
        w.hazard_name if w.hazard is Hazard.OTHER else "",
        w.rank,
        w.jurisdiction,
        w.areas,
        w.key_townships,
        w.drill,
    )
    cached: _Plan | None = config.plan_cache.get(key)
    if cached is None:
        if len(config.plan_cache) >= _CACHE_LIMIT:
            config.plan_cache.clear()
        specs = _merge(w, config)
        timings = tuple(dict.fromkeys(s.timings for s in specs))
        index = {t: i for i, t in enumerate(timings)}
        cached = config.plan_cache[key] = _Plan(specs, timings, tuple(index[s.timings] for s in specs))
    return cached


def _merge(w: WeatherWarning, config: RoutingConfig) -> tuple[ActionSpec, ...]:
    parts: dict[tuple[str, str, str, str | None], list[tuple[CompiledAction, tuple[str, ...]]]] = {}
    drop_public = w.drill and not config.drills.public_dissemination
    drop_phone = w.drill and not config.drills.phone_reports
    for rule in config.rule_index.get((w.product, w.hazard), ()):
        if not rule.matches(w.product, w.hazard, w.rank, w.hazard_name):
            continue
        for juris in _scope(rule.scope, w, config):
            for act in rule.actions:
                if (drop_public and act.public) or (drop_phone and act.kind is ActionKind.PHONE_REPORT):
                    continue
                areas = _areas(act.areas, w, juris, config)
                for dept in act.departments:
                    if config.has_department(juris, dept):
                        parts.setdefault((dept, juris, act.kind.value, act.task), []).append((act, areas))
    # Merged specs recur across classifications (a blue and an orange signal ask most departments
    # the same); keep them by the identity of the parts they merge.
    memo: dict[object, ActionSpec] = config.spec_memo
    if len(memo) > 16 * _CACHE_LIMIT:
        memo.clear()
    out = []
    for key, group in parts.items():
        signature = (key, tuple((id(act), areas) for act, areas in group))
        spec = memo.get(signature)
        if spec is None:
            spec = memo[signature] = _combine(key, group, config)
        out.append(spec)
    return tuple(out)


def _combine(
    key: tuple[str, str, str, str | None],
    group: list[tuple[CompiledAction, tuple[str, ...]]],
    config: RoutingConfig,
) -> ActionSpec:
    dept, juris, _, task = key
    first = group[0][0]
    # The most urgent part decides the channels (e.g. the phone report's voice call).
    urgent = min(group, key=lambda p: p[0].due_minutes if p[0].before_onset_minutes is None else 0)[0]
    texts = list(dict.fromkeys((a.clause, a.text) for a, _ in group))
    text = texts[0][1] if len(texts) == 1 else "\n".join(f"【{c}】{t}" for c, t in texts)
    areas = tuple(dict.fromkeys(code for _, codes in group for code in codes))
    return ActionSpec(
        department=dept,
        jurisdiction=juris,
        kind=first.kind,
        task=task,
        clause=most_specific(c for c, _ in texts),
        clauses=tuple(dict.fromkeys(a.clause for a, _ in group)),
        text=text,
        mandatory=any(a.mandatory for a, _ in group),
        timings=tuple(dict.fromkeys((a.before_onset_minutes, a.due_minutes) for a, _ in group)),
        channels=urgent.channels or tuple(config.departments[dept].channels),
        rules=tuple(dict.fromkeys(a.rule_id for a, _ in group)),
        areas=areas,
        public=any(a.public for a, _ in group),
    )


def most_specific(clauses: Iterable[str]) -> str:
    """The most specific of the clauses an action quotes: the one numbered deepest (§5.3.1 before §4.5), the
    first of those on a tie. A merged action cites it as ``clause``; ``clauses`` keeps them all."""
    best = ""
    for clause in clauses:
        if not best or clause.count(".") > best.count("."):
            best = clause
    return best


def _scope(scope: str, w: WeatherWarning, config: RoutingConfig) -> Iterable[str]:
    if scope == "city":
        return (config.city,)
    if scope == "issuer":
        return (w.jurisdiction, *config.followers.get(w.jurisdiction, ()))
    counties: list[str] = []
    for code in w.areas:
        if code == config.city:
            counties += config.counties()
        elif len(code) == 9:
            counties.append(config.township_county[code])
        else:
            counties.append(code)
    out: list[str] = []
    for county in dict.fromkeys(counties):
        out += [county, *config.followers.get(county, ())]
    return tuple(dict.fromkeys(out))


def _areas(mode: str, w: WeatherWarning, juris: str, config: RoutingConfig) -> tuple[str, ...]:
    if mode == "none":
        return ()
    towns = tuple(a for a in w.areas if len(a) == 9 and config.township_county.get(a) == juris)
    if mode == "key_townships":
        keys = tuple(a for a in w.key_townships if config.township_county.get(a) == juris)
        return keys or towns
    return towns


def _due(before_onset: int | None, minutes: float, w: WeatherWarning) -> datetime:
    if before_onset is not None and w.onset is not None:
        return max(w.onset - timedelta(minutes=before_onset), w.issued_at)
    return w.issued_at + timedelta(minutes=minutes)


def _lifecycle(
    told: Iterable[Action],
    skip: Collection[tuple[str, str]],
    w: WeatherWarning,
    config: RoutingConfig,
    kind: ActionKind,
) -> tuple[Action, ...]:
    """One ``inform`` or ``lift`` per department and jurisdiction told before (except ``skip``)."""
    by_recipient: dict[tuple[str, str], list[Action]] = {}
    for action in told:
        if action.kind in (ActionKind.INFORM, ActionKind.LIFT) or (action.department, action.jurisdiction) in skip:
            continue
        by_recipient.setdefault((action.department, action.jurisdiction), []).append(action)
    template = config.lifecycle.lift_text if kind is ActionKind.LIFT else config.lifecycle.inform_text
    change = w.change.value if w.change is not None else "update"
    text = template.format(headline=w.headline or w.hazard_name, change=change)
    due = w.issued_at + timedelta(minutes=config.defaults.due_minutes)
    out = []
    for (dept, juris), actions in by_recipient.items():
        first = actions[0]
        spec = ActionSpec(
            department=dept,
            jurisdiction=juris,
            kind=kind,
            clause=first.clause,
            text=text,
            mandatory=any(a.mandatory for a in actions),
            channels=tuple(config.departments[dept].channels) if dept in config.departments else first.channels,
            clauses=tuple(dict.fromkeys(c for a in actions for c in (a.clauses or (a.clause,)))),
            rules=tuple(dict.fromkeys(r for a in actions for r in a.rules)),
            timings=((None, config.defaults.due_minutes),),
        )
        out.append(Action(spec, due))
    return tuple(out)


def _late_notes(w: WeatherWarning, layout: Layout, now: datetime) -> list[str]:
    notes = []
    if w.expires is not None and w.expires <= now:
        notes.append(f"warning expired at {w.expires.isoformat()} before it was routed")
    # Deadlines compared with ``now`` once each: tens of actions share a few.
    past = {t for t, due in enumerate(layout.dues) if due <= now}
    overdue = sum(1 for t in layout.timing_of if t in past) if past else 0
    if overdue and not w.ends:
        notes.append(f"{overdue} action(s) already past their deadline at routing time")
    return notes
