"""The YAML schema of config/warnings.yaml and config/departments.yaml, as strict pydantic models.

Local checks only (types, enums, unknown keys, value formats); cross-references between the two
files are checked by :mod:`router.plan.config`, which also compiles the result for routing.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from router.domain.channels import CHANNEL_KINDS
from router.domain.models import ActionKind, Hazard, Product, grade_from_word
from router.domain.reports import ReportKind

CONTACT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required fields, optional fields); every field is a secret reference.
    "feed": ((), ()),
    "kafka": ((), ()),
    "webhook": (("url", "secret"), ()),
    "sms": (("to",), ()),
    "voice": (("to",), ()),
    "email": (("to",), ()),
    "wecom": (("url",), ()),
    "dingtalk": (("url",), ("secret",)),
    "feishu": (("url",), ("secret",)),
}

Ident = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
ClauseId = Annotated[str, StringConstraints(pattern=r"^\d+(\.\d+)*$")]
JurisdictionCode = Annotated[str, StringConstraints(pattern=r"^(\d{6}|[A-Z][A-Z0-9]{2,15})$")]
TownshipCode = Annotated[str, StringConstraints(pattern=r"^\d{9}$")]


def _known_grade(word: str) -> str:
    grade_from_word(word)  # raises ValueError naming what is wrong
    return word


Grade = Annotated[str, AfterValidator(_known_grade)]
"""A colour or a Roman level ("orange", "II"): the grade a rule or a ladder starts at."""
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_{}][A-Za-z0-9_{}]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- warnings.yaml -----------------------------------------------------------------------------


class PlanSection(Strict):
    text: str = Field(description="file of the plan's text, relative to the config folder")
    clauses: dict[ClauseId, str] = Field(description="rule-bearing clauses: id → title")


class Defaults(Strict):
    due_minutes: float = Field(30, gt=0, le=24 * 60)


class Drills(Strict):
    public_dissemination: bool = False
    phone_reports: bool = False


class Lifecycle(Strict):
    inform_text: str
    lift_text: str


class ProductSpec(Strict):
    zh: str
    en: str
    clause: ClauseId
    graded: Literal["colour", "level", "none"]
    issuer: Literal["county", "city"]
    hazards: list[Hazard] | None = None
    headline_words: list[str] = Field(min_length=1)


class HazardSpec(Strict):
    zh: str
    en: str
    signal_colours: list[Literal["blue", "yellow", "orange", "red"]] = Field(min_length=1)
    event_codes: list[Annotated[str, StringConstraints(pattern=r"^11B\d{2}$")]] = []
    names: list[str] = Field(min_length=1)


class RuleWhen(Strict):
    products: list[Product] = Field(min_length=1)
    hazards: list[Hazard] | Literal["*"] = "*"
    min_level: Grade | None = None
    event_names: list[str] | None = None


class RuleAction(Strict):
    departments: list[str] = Field(min_length=1)
    except_: list[str] = Field(default=[], alias="except")
    kind: ActionKind
    text: str = Field(min_length=1)
    clause: ClauseId | None = None
    mandatory: bool = False
    due_minutes: float | None = Field(None, gt=0, le=24 * 60)
    before_onset_minutes: int | None = Field(None, gt=0, le=24 * 60)
    channels: list[str] | None = None
    task: Ident | None = None
    areas: Literal["none", "townships", "key_townships"] = "none"
    public: bool = False

    @model_validator(mode="after")
    def _timing(self) -> RuleAction:
        if self.due_minutes is not None and self.before_onset_minutes is not None:
            raise ValueError("give due_minutes or before_onset_minutes, not both")
        if self.kind in (ActionKind.INFORM, ActionKind.LIFT):
            raise ValueError(f"kind {self.kind.value} is made by the lifecycle, not by rules")
        return self


class Rule(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
    clause: ClauseId
    when: RuleWhen
    scope: Literal["issuer", "affected_counties", "city"] = "issuer"
    actions: list[RuleAction] = Field(min_length=1)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)$")


def parse_duration(text: str) -> float:
    """Seconds in a duration written ``90s``, ``3m`` or ``1.5h``."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 3m or 1h")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


Duration = Annotated[str, StringConstraints(pattern=_DURATION.pattern)]


class LadderStep(Strict):
    """One rung: at ``after`` from the obligation's start, send on a channel or alert the duty office."""

    after: Duration
    send: str | None = Field(None, description="a channel kind, or 'first' for the department's first push channel")
    alert: Literal["duty_office"] | None = None

    @model_validator(mode="after")
    def _one(self) -> LadderStep:
        if (self.send is None) == (self.alert is None):
            raise ValueError("a step either sends on a channel or alerts the duty office")
        if self.send is not None and self.send != "first" and self.send not in CHANNEL_KINDS:
            raise ValueError(f"unknown channel kind {self.send!r}; known: first, {', '.join(CHANNEL_KINDS)}")
        return self

    @property
    def seconds(self) -> float:
        return parse_duration(self.after)


class LadderChoice(Strict):
    """First match wins: obligations of these kinds/departments, at or above this grade, use ``ladder``."""

    kinds: list[ActionKind] | None = None
    departments: list[str] | None = None
    min_level: Grade | None = None
    ladder: Ident


class DutyOffice(Strict):
    department: Ident = Field(description="the department that keeps the duty office at each level (值班值守)")
    channels: list[str] = Field(min_length=1)


class Escalation(Strict):
    duty_office: DutyOffice
    acknowledge_not_required: list[ActionKind] = Field(
        default=[], description="kinds that are done when delivered; every other kind needs a person's acknowledgement"
    )
    confirm_only: list[ActionKind] = Field(
        default=[], description="kinds only a voice keypress or the duty office can acknowledge (phone reports)"
    )
    ladders: dict[Ident, list[LadderStep]]
    select: list[LadderChoice] = Field(min_length=1)


class ReportTo(Strict):
    """Who a report goes to: departments of the reporting office's own jurisdiction (``same``), of the
    city, or of the jurisdiction above it (a county's or the zone's: the city; the city's: none here)."""

    departments: list[str] = Field(min_length=1)
    at: Literal["same", "city", "above"] = "same"


class ReportRule(Strict):
    """A situation report of these kinds goes to ``to``, because the plan says so (``text`` quotes it)."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
    clause: ClauseId
    kinds: list[ReportKind] = Field(min_length=1)
    text: str = Field(min_length=1)
    to: list[ReportTo] = Field(min_length=1)


class WarningsFile(Strict):
    version: Literal[1]
    plan: PlanSection
    defaults: Defaults = Defaults()
    drills: Drills = Drills()
    lifecycle: Lifecycle
    products: dict[Product, ProductSpec]
    hazards: dict[Hazard, HazardSpec]
    rules: list[Rule] = Field(min_length=1)
    reports: list[ReportRule] = Field(min_length=1, description="where situation reports go (DESIGN §13)")
    escalation: Escalation


# --- departments.yaml --------------------------------------------------------------------------


class Jurisdiction(Strict):
    zh: str
    level: Literal["city", "county", "zone"]
    follows: list[JurisdictionCode] = []
    townships: dict[TownshipCode, str] = {}


class Duty(Strict):
    clause: ClauseId
    text: str = Field(min_length=1)


class Department(Strict):
    zh: str
    en: str
    levels: list[Literal["city", "county", "zone"]] = Field(min_length=1)
    channels: list[str] = Field(min_length=1)
    duties: list[Duty] = []

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in CHANNEL_KINDS]
        if unknown:
            raise ValueError(f"unknown channel kind(s) {unknown}; known: {list(CHANNEL_KINDS)}")
        if len(set(value)) != len(value):
            raise ValueError("a channel kind is listed twice")
        return value


class SecretRef(Strict):
    """Where a secret or contact comes from: an environment variable or a file, never inline."""

    env: EnvName | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference needs exactly one of env or file")
        return self

    def fill(self, jurisdiction: str, department: str) -> SecretRef:
        def sub(text: str) -> str:
            return text.replace("{jurisdiction}", jurisdiction).replace("{department}", department.upper())

        if self.env is not None:
            return SecretRef(env=sub(self.env))
        assert self.file is not None
        return SecretRef(file=sub(self.file))

    def describe(self) -> str:
        """A description that names the reference, never the secret itself."""
        return f"env:{self.env}" if self.env is not None else f"file:{self.file}"


ChannelContact = dict[str, SecretRef]


class Contacts(Strict):
    defaults: dict[str, ChannelContact]
    overrides: dict[JurisdictionCode, dict[str, dict[str, ChannelContact]]] = {}


class LimitSpec(Strict):
    """At most ``count`` messages to one destination in any ``per`` (``30s``, ``1m``, ``1h``, ``1d``)."""

    count: int = Field(ge=1)
    per: str


class DepartmentsFile(Strict):
    version: Literal[1]
    jurisdictions: dict[JurisdictionCode, Jurisdiction]
    groups: dict[Ident, list[Ident]] = {}
    departments: dict[Ident, Department]
    contacts: Contacts
    provider_limits: dict[str, list[LimitSpec]] = {}


_INLINE_HINT = re.compile(r"^(https?://|\+?\d{6,}|[^@\s]+@[^@\s]+$)")


def looks_inline_secret(value: object) -> bool:
    """True for a bare string that looks like a URL, a phone number or an e-mail address."""
    return isinstance(value, str) and bool(_INLINE_HINT.match(value))
