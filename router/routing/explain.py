"""A readable rendering of a routing decision, for people at a terminal."""

from __future__ import annotations

from collections import Counter

from router.domain.models import Decision
from router.plan.config import RoutingConfig


def render_decision(decision: Decision, config: RoutingConfig) -> str:
    w = decision.warning
    grade = f"{w.severity.value}/{w.level.value}" if w.severity and w.level else "ungraded"
    place = config.jurisdictions[w.jurisdiction].zh
    head = (
        f"== {w.id}  {w.product.value} {w.hazard.value}({w.hazard_name}) {grade}  {w.msg_type.value}"
        f"{' ALL-CLEAR' if w.all_clear else ''}{' DRILL' if w.drill else ''}  {place} {w.jurisdiction}"
        f"  issued {w.issued_at.isoformat()}"
    )
    kinds = Counter(a.kind.value for a in decision.actions)
    lines = [head, f"   {len(decision.actions)} actions: " + ", ".join(f"{k} {n}" for k, n in kinds.items())]
    for note in decision.notes:
        lines.append(f"   note: {note}")
    ordered = sorted(decision.actions, key=lambda a: (not a.mandatory, a.due_at, a.jurisdiction, a.department))
    for a in ordered:
        dept = config.departments[a.department].zh if a.department in config.departments else a.department
        task = f"/{a.task}" if a.task else ""
        mark = "!" if a.mandatory else " "
        areas = f" [{','.join(a.areas)}]" if a.areas else ""
        lines.append(
            f" {mark} {a.due_at.strftime('%m-%d %H:%M')}  {a.jurisdiction:<6} {dept:<10} {a.kind.value}{task}"
            f"  §{','.join(a.clauses)}  via {'/'.join(a.channels)}{areas}"
        )
    return "\n".join(lines)
