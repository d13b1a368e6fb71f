"""Domain types: the normalised warning, its classification enums, and the routing decision.

``WeatherWarning`` is the one model every input format normalises to (frozen pydantic). The
decision side (``Action``, ``Decision``) is built on the routing hot path, so it uses frozen
slotted dataclasses: tens of actions per warning must cost microseconds, not a validation each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, model_validator


class Product(StrEnum):
    """The four warning products of the plan (§4.2.1–§4.2.4)."""

    SIGNAL = "signal"  # 气象灾害预警信号, county observatory, blue…red (§4.2.3)
    REPORT = "report"  # 重要天气预警报告, city, level Ⅳ…Ⅰ (§4.2.2)
    NOWCAST = "nowcast"  # 强降水短时临近预报, city, 12 h heavy rain (§4.2.4)
    FORECAST = "forecast"  # 重要天气预报, city, 1–3 days ahead (§4.2.1)


class Hazard(StrEnum):
    """Hazard ids (DESIGN §8); ``other`` keeps the original event name in ``hazard_name``."""

    RAINSTORM = "rainstorm"
    SNOWSTORM = "snowstorm"
    COLD_WAVE = "cold_wave"
    GALE = "gale"
    HEAT = "heat"
    FROST = "frost"
    FOG = "fog"
    ROAD_ICING = "road_icing"
    LIGHTNING = "lightning"
    HAIL = "hail"
    DROUGHT = "drought"
    TYPHOON = "typhoon"
    SANDSTORM = "sandstorm"
    HAZE = "haze"
    OTHER = "other"


class Severity(StrEnum):
    """Signal colour, ordered blue < yellow < orange < red (``rank`` 1…4)."""

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @property
    def level(self) -> Level:
        return _LEVEL_BY_RANK[self.rank]


class Level(StrEnum):
    """Report level, ordered Ⅳ < Ⅲ < Ⅱ < Ⅰ (``rank`` 1…4; Ⅰ is the highest)."""

    IV = "IV"
    III = "III"
    II = "II"
    I = "I"  # noqa: E741 - the plan's own name for the highest level.

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]

    @property
    def severity(self) -> Severity:
        return _SEVERITY_BY_RANK[self.rank]


_SEVERITY_RANK = {Severity.BLUE: 1, Severity.YELLOW: 2, Severity.ORANGE: 3, Severity.RED: 4}
_LEVEL_RANK = {Level.IV: 1, Level.III: 2, Level.II: 3, Level.I: 4}
_SEVERITY_BY_RANK = {rank: sev for sev, rank in _SEVERITY_RANK.items()}
_LEVEL_BY_RANK = {rank: lvl for lvl, rank in _LEVEL_RANK.items()}


def grade_from_word(word: str) -> int:
    """Rank 1…4 for a colour (``orange``) or a Roman level (``II``); raises ``ValueError`` otherwise."""
    if word in _SEVERITY_RANK:
        return Severity(word).rank
    if word in _LEVEL_RANK:
        return Level(word).rank
    raise ValueError(f"{word!r} is neither a colour (blue…red) nor a level (IV…I)")


class MsgType(StrEnum):
    ALERT = "alert"
    UPDATE = "update"
    CANCEL = "cancel"


class Status(StrEnum):
    ACTUAL = "actual"
    EXERCISE = "exercise"
    TEST = "test"


class Change(StrEnum):
    """What an Update says it does, when its words say it (升级/降级/继续/变更)."""

    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    CONTINUE = "continue"
    CHANGE = "change"


class ActionKind(StrEnum):
    DIRECT_REPORT = "direct_report"  # §4.3 first-time report to the HQs
    PHONE_REPORT = "phone_report"  # §4.3 telephone report to leaders; done only when a person confirms
    REPORT = "report"  # report to party committee / government / HQs (§4.2, §4.2.4)
    RESPOND = "respond"  # a department's response duties (§2.1, §4.5, §5.2, §5.3)
    DISSEMINATE = "disseminate"  # relay to the public (§4.4)
    TASK = "task"  # a deadline task (§4.5 nowcast steps, §5.1 consultation)
    INFORM = "inform"  # an update tells those already told
    LIFT = "lift"  # the warning is lifted; tells everyone told before


class WeatherWarning(BaseModel):
    """One validated inbound warning, whatever format it came in.

    ``severity`` and ``level`` are the same scale (Ⅳ=blue … Ⅰ=red); a message that gives one gets
    the other filled in. ``jurisdiction`` is the issuing office's own (本级); ``areas`` are 6-digit
    county or 9-digit township codes (``530300`` stands for the whole city).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    sender: str
    sender_code: str | None = None
    issued_at: AwareDatetime
    status: Status = Status.ACTUAL
    msg_type: MsgType = MsgType.ALERT
    all_clear: bool = False
    change: Change | None = None
    references: tuple[str, ...] = ()
    product: Product
    hazard: Hazard
    hazard_name: str
    severity: Severity | None = None
    level: Level | None = None
    jurisdiction: str
    areas: tuple[str, ...]
    onset: AwareDatetime | None = None
    expires: AwareDatetime | None = None
    headline: str = ""
    description: str = ""
    key_townships: tuple[str, ...] = ()
    rainfall_mm: tuple[tuple[str, float], ...] = ()
    lead_days: int | None = None

    @model_validator(mode="after")
    def _fill_grade(self) -> WeatherWarning:
        if self.severity is not None and self.level is None:
            object.__setattr__(self, "level", self.severity.level)
        elif self.level is not None and self.severity is None:
            object.__setattr__(self, "severity", self.level.severity)
        elif self.level is not None and self.severity is not None and self.level.rank != self.severity.rank:
            raise ValueError(f"level {self.level.value} and severity {self.severity.value} disagree (Ⅳ=blue … Ⅰ=red)")
        return self

    @property
    def rank(self) -> int:
        """Grade 1…4, or 0 for an ungraded product (nowcast, forecast)."""
        return self.severity.rank if self.severity is not None else 0

    @property
    def ends(self) -> bool:
        """A Cancel, or an all-clear Update: the referenced warning is lifted."""
        return self.msg_type is MsgType.CANCEL or self.all_clear

    @property
    def drill(self) -> bool:
        return self.status is not Status.ACTUAL

    def public_dict(self) -> dict[str, Any]:
        """The ``warning`` object of the ``warnroute route`` output (DESIGN §8)."""
        return {
            "id": self.id,
            "product": self.product.value,
            "hazard": self.hazard.value,
            "hazard_name": self.hazard_name,
            "severity": self.severity.value if self.severity else None,
            "level": self.level.value if self.level else None,
            "jurisdiction": self.jurisdiction,
            "areas": list(self.areas),
            "msg_type": self.msg_type.value,
            "all_clear": self.all_clear,
            "change": self.change.value if self.change else None,
            "status": self.status.value,
            "sender": self.sender,
            "issued_at": _iso(self.issued_at),
            "onset": _iso(self.onset),
            "expires": _iso(self.expires),
            "references": list(self.references),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """Everything about an action except when it is due; shared by every warning of one classification.

    ``clause`` is the plan clause the action comes from; when several rules asked the same
    department for the same kind of action they are merged, and ``clauses`` lists them all.
    ``task`` tells deadline tasks of one kind apart (e.g. the 12 h / 6 h / 2 h nowcast steps).
    ``timings`` are (minutes before onset | None, minutes after issue) per merged part; the action
    is due at the earliest of them.
    """

    department: str
    jurisdiction: str
    kind: ActionKind
    clause: str
    text: str
    mandatory: bool
    channels: tuple[str, ...]
    clauses: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    task: str | None = None
    areas: tuple[str, ...] = ()
    public: bool = False
    timings: tuple[tuple[int | None, float], ...] = ()
    key: tuple[str, str, str, str | None] = field(init=False)
    static: dict[str, Any] = field(init=False, compare=False, hash=False, repr=False)
    # the stored action as JSON up to its deadline, in full and in the "told" form (no text): see action_json
    heads: tuple[str, bytes] = field(init=False, compare=False, hash=False, repr=False)
    # what the layers above work out once per spec (and, say, warning rank) instead of once per warning
    memo: dict[Any, Any] = field(init=False, default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.department, self.jurisdiction, self.kind.value, self.task))
        # The public form without the deadline, built once: specs are shared by every warning of a
        # classification, so this is what keeps tens of actions per warning cheap to serialise.
        static: dict[str, Any] = {
            "department": self.department,
            "jurisdiction": self.jurisdiction,
            "kind": self.kind.value,
            "clause": self.clause,
            "clauses": list(self.clauses),
            "text": self.text,
            "mandatory": self.mandatory,
            "channels": list(self.channels),
            "rules": list(self.rules),
        }
        if self.task is not None:
            static["task"] = self.task
        if self.areas:
            static["areas"] = list(self.areas)
        object.__setattr__(self, "static", static)
        record = {**static, "public": self.public}
        told = orjson.dumps({**record, "text": ""})[:-1] + b',"due_at":'
        object.__setattr__(self, "heads", (orjson.dumps(record).decode()[:-1] + ',"due_at":', told))


class Action(NamedTuple):
    """What one department of one jurisdiction must do for one warning, and by when.

    A pair (shared spec, deadline), so that routing builds tens of actions per warning cheaply; the
    spec's fields read as the action's own (``action.department``, ``action.clause`` …).
    ``key`` is the identity of the obligation within one decision: department, jurisdiction,
    kind, task.
    """

    spec: ActionSpec
    due_at: datetime

    @property
    def department(self) -> str:
        return self.spec.department

    @property
    def jurisdiction(self) -> str:
        return self.spec.jurisdiction

    @property
    def kind(self) -> ActionKind:
        return self.spec.kind

    @property
    def clause(self) -> str:
        return self.spec.clause

    @property
    def clauses(self) -> tuple[str, ...]:
        return self.spec.clauses

    @property
    def text(self) -> str:
        return self.spec.text

    @property
    def mandatory(self) -> bool:
        return self.spec.mandatory

    @property
    def channels(self) -> tuple[str, ...]:
        return self.spec.channels

    @property
    def rules(self) -> tuple[str, ...]:
        return self.spec.rules

    @property
    def task(self) -> str | None:
        return self.spec.task

    @property
    def areas(self) -> tuple[str, ...]:
        return self.spec.areas

    @property
    def public(self) -> bool:
        return self.spec.public

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return self.spec.key

    def public_dict(self) -> dict[str, Any]:
        return {**self.spec.static, "due_at": self.due_at.isoformat()}


class Layout(NamedTuple):
    """How routing laid out a decision whose actions are its classification's own (a new warning's): the
    classification's merged specs (one tuple object per classification, kept by routing, so warnings of
    one classification share it), the index of each spec's deadline in ``dues``, and the distinct
    deadlines. ``actions[i]`` is ``Action(specs[i], dues[timing_of[i]])``."""

    specs: tuple[ActionSpec, ...]
    timing_of: tuple[int, ...]
    dues: tuple[datetime, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """The routing decision for one warning: every action, plus what the router noticed.

    ``reference_unknown`` is set when an Update or a lift arrived without the decision of the
    message it references, so it was routed as if new (an Update) or lifted for everyone the
    referenced warning would have reached (a lift).

    ``told`` is every action of this warning's lineage so far (the latest per obligation key):
    what a later Update is compared with, and whom a lift must reach. It is empty after a lift.

    ``layout``: how ``actions`` were laid out, when they are the classification's own (None for a lift
    or an Update routed against what it updates); the layers below work out once per classification
    what its warnings share.
    """

    warning: WeatherWarning
    actions: tuple[Action, ...]
    told: tuple[Action, ...] = ()
    reference_unknown: bool = False
    notes: tuple[str, ...] = field(default=())
    layout: Layout | None = field(default=None, compare=False, repr=False)

    def public_dict(self) -> dict[str, Any]:
        return {
            "warning": self.warning.public_dict(),
            "actions": [a.public_dict() for a in self.actions],
            "drill": self.warning.drill,
            "reference_unknown": self.reference_unknown,
            "notes": list(self.notes),
        }


def action_json(head: str, due_at: str) -> str:
    """An action as stored (JSON): its public form plus what routing needs to compare it later, from the
    spec's prepared head (``ActionSpec.heads[0]``); ``due_at`` is the ISO deadline."""
    return f'{head}"{due_at}"}}'


def told_json(spec: ActionSpec, due_at: str) -> bytes:
    """``action_json`` without the text: what a lineage keeps of an action told before."""
    return spec.heads[1] + f'"{due_at}"}}'.encode()


def action_from_record(record: dict[str, Any]) -> Action:
    """The inverse of ``action_json`` (timings are not kept: a stored action's deadline is fixed)."""
    spec = ActionSpec(
        department=record["department"],
        jurisdiction=record["jurisdiction"],
        kind=ActionKind(record["kind"]),
        clause=record["clause"],
        text=record["text"],
        mandatory=record["mandatory"],
        channels=tuple(record["channels"]),
        clauses=tuple(record.get("clauses", ())),
        rules=tuple(record.get("rules", ())),
        task=record.get("task"),
        areas=tuple(record.get("areas", ())),
        public=record.get("public", False),
    )
    return Action(spec, datetime.fromisoformat(record["due_at"]))
