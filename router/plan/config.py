"""Loading, cross-checking and compiling the configuration that encodes the plan.

``load_config(directory)`` reads ``warnings.yaml`` (when: hazards, products, rules) and
``departments.yaml`` (who and how: jurisdictions, departments, channels, contacts), validates both
strictly, checks every reference between them, and compiles a ``RoutingConfig`` that routing then
trusts. Every problem found is reported at once, each naming file, path and problem.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from router.domain.channels import CHANNEL_KINDS, DEFAULT_LIMITS, PUSH_KINDS, Limit, period_seconds
from router.domain.ladder import Choice, Ladders, Rung
from router.domain.models import ActionKind, Hazard, Product, Severity, grade_from_word
from router.domain.reports import ReportKind
from router.errors import ConfigError, ConfigProblem
from router.plan.schema import (
    CONTACT_FIELDS,
    Defaults,
    Department,
    DepartmentsFile,
    Drills,
    Escalation,
    HazardSpec,
    Jurisdiction,
    Lifecycle,
    PlanSection,
    ProductSpec,
    ReportRule,
    Rule,
    SecretRef,
    WarningsFile,
)
from router.plan.text import PlanText
from router.plan.yamlload import YamlDoc, YamlError, format_path, load_yaml

WARNINGS_FILE = "warnings.yaml"
DEPARTMENTS_FILE = "departments.yaml"
ALL_RANKS = (1, 2, 3, 4)


@dataclass(frozen=True, slots=True)
class CompiledAction:
    """One action template of a rule, with its department list expanded and checked."""

    rule_id: str
    clause: str
    kind: ActionKind
    text: str
    mandatory: bool
    departments: tuple[str, ...]
    due_minutes: float
    before_onset_minutes: int | None
    channels: tuple[str, ...] | None
    task: str | None
    areas: str
    public: bool


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    clause: str
    products: frozenset[Product]
    hazards: frozenset[Hazard]
    min_rank: int
    event_names: frozenset[str] | None
    scope: str
    actions: tuple[CompiledAction, ...]

    def matches(self, product: Product, hazard: Hazard, rank: int, hazard_name: str) -> bool:
        if product not in self.products or hazard not in self.hazards or rank < self.min_rank:
            return False
        return self.event_names is None or hazard_name in self.event_names


@dataclass(frozen=True, slots=True)
class CompiledReportRule:
    """Where reports of some kinds go (DESIGN §13): each target a department at a level relative to the
    reporting office ("same", "city", "above"), its department list expanded and checked."""

    id: str
    clause: str
    kinds: frozenset[str]
    text: str
    to: tuple[tuple[str, tuple[str, ...]], ...]  # (at, departments)


@dataclass(frozen=True)
class RoutingConfig:
    """The validated, compiled configuration. Routing assumes it is consistent."""

    directory: Path
    plan: PlanSection
    defaults: Defaults
    drills: Drills
    lifecycle: Lifecycle
    products: Mapping[Product, ProductSpec]
    hazards: Mapping[Hazard, HazardSpec]
    rules: tuple[CompiledRule, ...]
    city: str
    jurisdictions: Mapping[str, Jurisdiction]
    followers: Mapping[str, tuple[str, ...]]
    township_county: Mapping[str, str]
    departments: Mapping[str, Department]
    groups: Mapping[str, tuple[str, ...]]
    contacts: Mapping[tuple[str, str, str], Mapping[str, SecretRef]]
    hazard_by_name: Mapping[str, Hazard]
    hazard_by_code: Mapping[str, Hazard]
    rule_index: Mapping[tuple[Product, Hazard], tuple[CompiledRule, ...]]
    ladders: Ladders
    provider_limits: Mapping[str, tuple[Limit, ...]] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    """Each channel kind's limits per destination (the providers' defaults, or departments.yaml's)."""
    report_rules: tuple[CompiledReportRule, ...] = ()
    """Where situation reports go, by kind (warnings.yaml ``reports``)."""
    plan_cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """Routing's memo of merged action specs per classification; bounded by the router."""
    spec_memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """Routing's memo of each merged spec by the parts it merges (shared across classifications)."""
    pattern_memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """Ingest's memo of each classification's obligations as they open on time, by its specs, rank and the
    time from issue to each deadline; bounded by ingest."""

    def valid_ranks(self, product: Product, hazard: Hazard) -> tuple[int, ...]:
        """Grades a message of this product and hazard can carry; ``(0,)`` for ungraded products."""
        spec = self.products[product]
        if spec.hazards is not None and hazard not in spec.hazards:
            return ()
        if spec.graded == "none":
            return (0,)
        if spec.graded == "level":
            return ALL_RANKS
        return tuple(Severity(c).rank for c in self.hazards[hazard].signal_colours)

    def has_department(self, jurisdiction: str, department: str) -> bool:
        return self.jurisdictions[jurisdiction].level in self.departments[department].levels

    def above(self, jurisdiction: str) -> str | None:
        """The jurisdiction a report from ``jurisdiction`` goes up to: the city for a county or the zone."""
        return None if jurisdiction == self.city else self.city

    def counties(self) -> tuple[str, ...]:
        return tuple(c for c, j in self.jurisdictions.items() if j.level == "county")

    def plan_text(self) -> str:
        return (self.directory / self.plan.text).read_text(encoding="utf-8")


def config_digest(config: RoutingConfig) -> str:
    """SHA-256 over the configuration files, for the audit log's record of what was loaded."""
    digest = hashlib.sha256()
    for name in (WARNINGS_FILE, DEPARTMENTS_FILE, config.plan.text):
        digest.update(name.encode() + b"\0" + (config.directory / name).read_bytes())
    return digest.hexdigest()


def default_config_dir() -> Path:
    """``$WARNROUTE_CONFIG``, else the source tree's ``config/``, else the copy bundled in the wheel."""
    env = os.environ.get("WARNROUTE_CONFIG")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    source_tree = here.parents[1] / "config"
    if (source_tree / WARNINGS_FILE).is_file():
        return source_tree
    return here.parent / "_bundled" / "config"


def load_config(directory: Path | str | None = None) -> RoutingConfig:
    """Load and validate the configuration in ``directory``; raises ``ConfigError`` listing every problem."""
    base = Path(directory) if directory is not None else default_config_dir()
    problems: list[ConfigProblem] = []
    docs: dict[str, YamlDoc] = {}
    for name in (WARNINGS_FILE, DEPARTMENTS_FILE):
        try:
            docs[name] = load_yaml(base / name, str(base / name))
        except YamlError as exc:
            problems.append(exc.problem)
    if problems:
        raise ConfigError(problems)
    warnings_doc, departments_doc = docs[WARNINGS_FILE], docs[DEPARTMENTS_FILE]
    problems += _inline_secrets(departments_doc)
    wf = _validate(WarningsFile, warnings_doc, problems)
    df = _validate(DepartmentsFile, departments_doc, problems)
    if problems or wf is None or df is None:
        raise ConfigError(problems)
    checker = _CrossCheck(base, wf, df, warnings_doc, departments_doc)
    config = checker.run()
    if checker.problems:
        raise ConfigError(checker.problems)
    assert config is not None
    return config


def _validate(model: type[Any], doc: YamlDoc, problems: list[ConfigProblem]) -> Any:
    try:
        return model.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append(ConfigProblem(doc.file, format_path(loc), msg, doc.line_of(loc)))
        return None


def _inline_secrets(doc: YamlDoc) -> list[ConfigProblem]:
    """Contacts must be references; an inline value is reported without repeating it."""
    out: list[ConfigProblem] = []
    contacts = doc.data.get("contacts") if isinstance(doc.data, dict) else None
    if not isinstance(contacts, dict):
        return out

    def walk(node: Any, loc: list[str | int]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str | int | float) and key not in ("env", "file"):
                    out.append(
                        ConfigProblem(
                            doc.file,
                            format_path([*loc, key]),
                            "inline contact or secret is not allowed; use {env: NAME} or {file: PATH}",
                            doc.line_of([*loc, key]),
                        )
                    )
                else:
                    walk(value, [*loc, key])

    walk(contacts, ["contacts"])
    return out


class _CrossCheck:
    """Checks references between the two files and compiles the routing table."""

    def __init__(self, base: Path, wf: WarningsFile, df: DepartmentsFile, wdoc: YamlDoc, ddoc: YamlDoc) -> None:
        self.base, self.wf, self.df, self.wdoc, self.ddoc = base, wf, df, wdoc, ddoc
        self.problems: list[ConfigProblem] = []
        self._plan_text: PlanText | None = None

    def w(self, loc: list[str | int], problem: str) -> None:
        self.problems.append(ConfigProblem(self.wdoc.file, format_path(loc), problem, self.wdoc.line_of(loc)))

    def d(self, loc: list[str | int], problem: str) -> None:
        self.problems.append(ConfigProblem(self.ddoc.file, format_path(loc), problem, self.ddoc.line_of(loc)))

    def run(self) -> RoutingConfig | None:
        city = self._jurisdictions()
        groups = self._groups()
        self._plan_and_catalogue()
        contacts = self._contacts()
        limits = self._limits()
        rules = tuple(self._rule(i, r, groups) for i, r in enumerate(self.wf.rules))
        ladders = self._ladders(rules)
        report_rules = tuple(self._report_rule(i, r, groups) for i, r in enumerate(self.wf.reports))
        self._reports_reach(report_rules)
        if self.problems or city is None:
            return None
        followers: dict[str, list[str]] = {}
        for code, j in self.df.jurisdictions.items():
            for leader in j.follows:
                followers.setdefault(leader, []).append(code)
        names: dict[str, Hazard] = {}
        codes: dict[str, Hazard] = {}
        for hazard, spec in self.wf.hazards.items():
            for name in (*spec.names, spec.zh, spec.en):
                names[name.casefold()] = hazard
            for code in spec.event_codes:
                codes[code] = hazard
        config = RoutingConfig(
            directory=self.base,
            plan=self.wf.plan,
            defaults=self.wf.defaults,
            drills=self.wf.drills,
            lifecycle=self.wf.lifecycle,
            products=dict(self.wf.products),
            hazards=dict(self.wf.hazards),
            rules=rules,
            city=city,
            jurisdictions=dict(self.df.jurisdictions),
            followers={k: tuple(v) for k, v in followers.items()},
            township_county={t: c for c, j in self.df.jurisdictions.items() for t in j.townships},
            departments=dict(self.df.departments),
            groups={k: tuple(v) for k, v in groups.items()},
            contacts=contacts,
            hazard_by_name=names,
            hazard_by_code=codes,
            rule_index={
                (p, h): tuple(r for r in rules if p in r.products and h in r.hazards) for p in Product for h in Hazard
            },
            ladders=ladders,
            provider_limits=limits,
            report_rules=report_rules,
        )
        self._unrouted(config)
        return config

    # -- departments.yaml --------------------------------------------------------------------

    def _jurisdictions(self) -> str | None:
        cities = [c for c, j in self.df.jurisdictions.items() if j.level == "city"]
        if len(cities) != 1:
            self.d(["jurisdictions"], f"exactly one jurisdiction of level city is needed, found {len(cities)}")
        for code, j in self.df.jurisdictions.items():
            if j.level != "zone" and not code.isdigit():
                self.d(["jurisdictions", code], "a city or county is keyed by its 6-digit GB/T 2260 code")
            if j.level == "zone" and code.isdigit():
                self.d(["jurisdictions", code], "a zone has no GB/T 2260 code; key it by an upper-case id")
            for i, leader in enumerate(j.follows):
                if leader not in self.df.jurisdictions:
                    self.d(["jurisdictions", code, "follows", i], f"unknown jurisdiction {leader!r}")
                elif self.df.jurisdictions[leader].level != "county":
                    self.d(["jurisdictions", code, "follows", i], f"{leader} is not a county")
            if j.townships and j.level != "county":
                self.d(["jurisdictions", code, "townships"], "only a county has townships")
            for town in j.townships:
                if not town.startswith(code):
                    self.d(["jurisdictions", code, "townships", town], f"township code does not start with {code}")
        return cities[0] if len(cities) == 1 else None

    def _groups(self) -> dict[str, list[str]]:
        for name, members in self.df.groups.items():
            for i, member in enumerate(members):
                if member not in self.df.departments:
                    self.d(["groups", name, i], f"unknown department {member!r}")
            if len(set(members)) != len(members):
                self.d(["groups", name], "a department is listed twice")
        return dict(self.df.groups)

    def _limits(self) -> dict[str, tuple[Limit, ...]]:
        """The providers' default limits, with each kind ``provider_limits`` names replaced by its list."""
        out = dict(DEFAULT_LIMITS)
        for kind, specs in self.df.provider_limits.items():
            if kind not in PUSH_KINDS:
                self.d(["provider_limits", kind], f"unknown channel kind {kind!r} (one of {', '.join(PUSH_KINDS)})")
                continue
            limits = []
            for i, spec in enumerate(specs):
                seconds = period_seconds(spec.per)
                if seconds is None:
                    self.d(["provider_limits", kind, i, "per"], f"{spec.per!r} is not a period like 30s, 1m, 1h, 1d")
                else:
                    limits.append(Limit(spec.count, seconds))
            out[kind] = tuple(limits)
        return out

    def _contacts(self) -> dict[tuple[str, str, str], Mapping[str, SecretRef]]:
        out: dict[tuple[str, str, str], Mapping[str, SecretRef]] = {}
        defaults = self.df.contacts.defaults
        for kind, fields in defaults.items():
            if kind not in CHANNEL_KINDS:
                self.d(["contacts", "defaults", kind], f"unknown channel kind {kind!r}")
            else:
                self._contact_fields(["contacts", "defaults", kind], kind, fields)
        used = {c for dep in self.df.departments.values() for c in dep.channels}
        for kind in sorted(used - set(defaults)):
            self.d(["contacts", "defaults"], f"no default contact for channel kind {kind!r}, used by departments")
        for juris, by_dept in self.df.contacts.overrides.items():
            if juris not in self.df.jurisdictions:
                self.d(["contacts", "overrides", juris], f"unknown jurisdiction {juris!r}")
                continue
            for dept, by_kind in by_dept.items():
                if dept not in self.df.departments:
                    self.d(["contacts", "overrides", juris, dept], f"unknown department {dept!r}")
                    continue
                for kind, fields in by_kind.items():
                    if kind not in self.df.departments[dept].channels:
                        self.d(["contacts", "overrides", juris, dept, kind], f"{dept} has no {kind!r} channel")
                    else:
                        self._contact_fields(["contacts", "overrides", juris, dept, kind], kind, fields)
        for juris, j in self.df.jurisdictions.items():
            for dept_id, spec in self.df.departments.items():
                if j.level not in spec.levels:
                    continue
                for kind in spec.channels:
                    override = self.df.contacts.overrides.get(juris, {}).get(dept_id, {}).get(kind)
                    fields = override if override is not None else defaults.get(kind, {})
                    out[(juris, dept_id, kind)] = {k: v.fill(juris, dept_id) for k, v in fields.items()}
        return out

    def _contact_fields(self, loc: list[str | int], kind: str, fields: Mapping[str, SecretRef]) -> None:
        required, optional = CONTACT_FIELDS[kind]
        for name in fields:
            if name not in required and name not in optional:
                self.d([*loc, name], f"channel {kind} has no field {name!r} (fields: {list(required + optional)})")
        for name in required:
            if name not in fields:
                self.d(loc, f"channel {kind} needs field {name!r}")

    # -- warnings.yaml -------------------------------------------------------------------------

    def _plan_and_catalogue(self) -> None:
        if not (self.base / self.wf.plan.text).is_file():
            self.w(["plan", "text"], f"plan text {self.wf.plan.text!r} not found next to the config")
        for product in Product:
            if product not in self.wf.products:
                self.w(["products"], f"product {product.value!r} is not described")
        for hazard in Hazard:
            if hazard not in self.wf.hazards:
                self.w(["hazards"], f"hazard {hazard.value!r} is not described")
        for product, product_spec in self.wf.products.items():
            if product_spec.clause not in self.wf.plan.clauses:
                self.w(["products", product.value, "clause"], f"clause {product_spec.clause} is not in plan.clauses")
        owner: dict[str, str] = {}
        for hazard, spec in self.wf.hazards.items():
            for i, name in enumerate(spec.names):
                other = owner.setdefault(name.casefold(), hazard.value)
                if other != hazard.value:
                    self.w(["hazards", hazard.value, "names", i], f"name {name!r} is also a name of {other}")
            for i, code in enumerate(spec.event_codes):
                other = owner.setdefault(code, hazard.value)
                if other != hazard.value:
                    self.w(["hazards", hazard.value, "event_codes", i], f"code {code} is also used by {other}")

    def _expand(self, loc: list[str | int], names: Iterable[str], groups: Mapping[str, list[str]]) -> list[str]:
        out: list[str] = []
        for i, name in enumerate(names):
            if name.startswith("@"):
                if name[1:] not in groups:
                    self.w([*loc, i], f"unknown department group {name!r}")
                out += groups.get(name[1:], [])
            elif name not in self.df.departments:
                self.w([*loc, i], f"unknown department {name!r}")
            else:
                out.append(name)
        return list(dict.fromkeys(out))

    def _rule(self, index: int, rule: Rule, groups: Mapping[str, list[str]]) -> CompiledRule:
        loc: list[str | int] = ["rules", index]
        if any(r.id == rule.id for r in self.wf.rules[:index]):
            self.w([*loc, "id"], f"duplicate rule id {rule.id!r}")
        if rule.clause not in self.wf.plan.clauses:
            self.w([*loc, "clause"], f"clause {rule.clause} is not in plan.clauses")
        hazards = frozenset(Hazard) if rule.when.hazards == "*" else frozenset(rule.when.hazards)
        min_rank = grade_from_word(rule.when.min_level) if rule.when.min_level else 0
        levels = self._scope_levels(rule)
        actions = []
        for a_index, act in enumerate(rule.actions):
            a_loc: list[str | int] = [*loc, "actions", a_index]
            depts = self._expand([*a_loc, "departments"], act.departments, groups)
            excluded = set(self._expand([*a_loc, "except"], act.except_, groups))
            depts = [d for d in depts if d not in excluded]
            clause = act.clause or rule.clause
            if clause not in self.wf.plan.clauses:
                self.w([*a_loc, "clause"], f"clause {clause} is not in plan.clauses")
            direct = {d for d in act.departments if not d.startswith("@")}
            for dept in depts:
                self._check_target(a_loc, dept, dept in direct, act.mandatory, act.channels, levels)
            if act.before_onset_minutes is not None and rule.when.products != [Product.NOWCAST]:
                self.w([*a_loc, "before_onset_minutes"], "only nowcast rules have an onset to count back from")
            if act.areas != "none" and rule.scope != "affected_counties":
                self.w([*a_loc, "areas"], "township areas need scope affected_counties")
            actions.append(
                CompiledAction(
                    rule_id=rule.id,
                    clause=clause,
                    kind=act.kind,
                    text=act.text,
                    mandatory=act.mandatory,
                    departments=tuple(depts),
                    due_minutes=act.due_minutes or self.wf.defaults.due_minutes,
                    before_onset_minutes=act.before_onset_minutes,
                    channels=tuple(act.channels) if act.channels is not None else None,
                    task=act.task,
                    areas=act.areas,
                    public=act.public,
                )
            )
        compiled = CompiledRule(
            id=rule.id,
            clause=rule.clause,
            products=frozenset(rule.when.products),
            hazards=hazards,
            min_rank=min_rank,
            event_names=frozenset(rule.when.event_names) if rule.when.event_names is not None else None,
            scope=rule.scope,
            actions=tuple(actions),
        )
        self._can_fire(loc, compiled)
        return compiled

    def _report_rule(self, index: int, rule: ReportRule, groups: Mapping[str, list[str]]) -> CompiledReportRule:
        """A report rule: a unique id, a listed clause whose text it quotes, known departments that exist
        at some level it reaches."""
        loc: list[str | int] = ["reports", index]
        if any(r.id == rule.id for r in self.wf.reports[:index]):
            self.w([*loc, "id"], f"duplicate report rule id {rule.id!r}")
        if rule.clause not in self.wf.plan.clauses:
            self.w([*loc, "clause"], f"clause {rule.clause} is not in plan.clauses")
        plan = self._plan()
        if plan is not None and not plan.contains(rule.clause, rule.text):
            self.w([*loc, "text"], f"text is not in §{rule.clause} of the plan: {rule.text[:40]}")
        targets = []
        for t_index, target in enumerate(rule.to):
            t_loc: list[str | int] = [*loc, "to", t_index, "departments"]
            depts = self._expand(t_loc, target.departments, groups)
            levels = {"city"} if target.at in ("city", "above") else {"city", "county", "zone"}
            for dept in depts:
                if not levels & set(self.df.departments[dept].levels):
                    self.w(t_loc, f"department {dept!r} exists at no level this target reaches ({sorted(levels)})")
            targets.append((target.at, tuple(depts)))
        return CompiledReportRule(
            rule.id, rule.clause, frozenset(k.value for k in rule.kinds), rule.text, tuple(targets)
        )

    def _reports_reach(self, rules: tuple[CompiledReportRule, ...]) -> None:
        """Every kind of report, from a county and from the city, reaches someone (no report goes nowhere)."""

        def reaches(at: str, depts: tuple[str, ...], level: str) -> bool:
            if at == "above" and level == "city":
                return False  # the province is not ours to send to
            there = level if at == "same" else "city"
            return any(there in self.df.departments[d].levels for d in depts)

        for kind in ReportKind:
            for level in ("county", "city"):
                if not any(kind.value in r.kinds and reaches(at, d, level) for r in rules for at, d in r.to):
                    self.w(["reports"], f"no report rule sends a {kind.value} report from a {level} anywhere")

    def _plan(self) -> PlanText | None:
        path = self.base / self.wf.plan.text
        if self._plan_text is None and path.is_file():
            self._plan_text = PlanText.parse(path.read_text(encoding="utf-8"))
        return self._plan_text

    def _ladders(self, rules: tuple[CompiledRule, ...]) -> Ladders:
        """Escalation: known ladders and departments, and every ladder finishing inside its deadline."""
        spec = self.wf.escalation
        loc: list[str | int] = ["escalation"]
        duty = spec.duty_office
        if duty.department not in self.df.departments:
            self.w([*loc, "duty_office", "department"], f"unknown department {duty.department!r}")
        else:
            dspec = self.df.departments[duty.department]
            if "city" not in dspec.levels:
                self.w([*loc, "duty_office", "department"], f"{duty.department!r} must exist at city level")
            for c in duty.channels:
                if c not in dspec.channels:
                    self.w([*loc, "duty_office", "channels"], f"department {duty.department!r} has no {c!r} channel")
        for i, choice in enumerate(spec.select):
            if choice.ladder not in spec.ladders:
                self.w([*loc, "select", i, "ladder"], f"unknown ladder {choice.ladder!r}")
            for d in choice.departments or []:
                if d not in self.df.departments:
                    self.w([*loc, "select", i, "departments"], f"unknown department {d!r}")
        last = spec.select[-1]
        if last.kinds is not None or last.departments is not None or last.min_level is not None:
            self.w([*loc, "select", len(spec.select) - 1], "the last choice must match every obligation (no filters)")
        for name, steps in spec.ladders.items():
            afters = [s.seconds for s in steps]
            if afters != sorted(afters):
                self.w([*loc, "ladders", name], "steps must be in order of their 'after'")
        duty_levels = (
            set(self.df.departments[duty.department].levels) if duty.department in self.df.departments else set()
        )
        city = next((c for c, j in self.df.jurisdictions.items() if j.level == "city"), "")
        duty_at = frozenset(c for c, j in self.df.jurisdictions.items() if j.level in duty_levels)
        ladders = compile_ladders(spec, city, duty_at)
        if self.problems:
            return ladders
        default_due = self.wf.defaults.due_minutes * 60
        for kind in (ActionKind.INFORM, ActionKind.LIFT):
            for dept in self.df.departments:
                self._ladder_fits(["defaults", "due_minutes"], ladders, kind.value, dept, 0, default_due)
        for r_index, rule in enumerate(rules):
            for a_index, act in enumerate(rule.actions):
                if act.before_onset_minutes is not None:
                    continue  # due relative to an onset known only at run time: compressed to fit then
                for dept in act.departments:
                    for rank in sorted({rule.min_rank, *ALL_RANKS} - set(range(rule.min_rank))):
                        a_loc: list[str | int] = ["rules", r_index, "actions", a_index, "due_minutes"]
                        if not self._ladder_fits(a_loc, ladders, act.kind.value, dept, rank, act.due_minutes * 60):
                            break
        return ladders

    def _ladder_fits(self, loc: list[str | int], ladders: Ladders, kind: str, dept: str, rank: int, due: float) -> bool:
        name = ladders.choose(kind, dept, rank)
        rungs = ladders.ladders.get(name, ()) if name else ()
        if rungs and rungs[-1].after >= due:
            self.w(
                loc,
                f"ladder {name!r} (for {kind} to {dept}) ends {rungs[-1].after / 60:g} min after the start, "
                f"not inside the {due / 60:g}-minute deadline",
            )
            return False
        return True

    def _scope_levels(self, rule: Rule) -> set[str]:
        if rule.scope == "city":
            return {"city"}
        if rule.scope == "affected_counties":
            return {"county", "zone"}
        levels: set[str] = set()
        for product in rule.when.products:
            spec = self.wf.products.get(product)
            levels |= {"county", "zone"} if spec is not None and spec.issuer == "county" else {"city"}
        return levels

    def _check_target(
        self,
        loc: list[str | int],
        dept: str,
        named: bool,
        mandatory: bool,
        channels: list[str] | None,
        levels: set[str],
    ) -> None:
        spec = self.df.departments[dept]
        present = levels & set(spec.levels)
        if named and not present:
            self.w(
                [*loc, "departments"], f"department {dept!r} exists at no level this rule reaches ({sorted(levels)})"
            )
        # A zone mirrors its county as far as it has the departments; city and counties must have
        # every mandatory recipient.
        missing = (levels - present) - {"zone"}
        if mandatory and missing:
            self.w([*loc, "departments"], f"mandatory recipient {dept!r} is missing at level(s) {sorted(missing)}")
        if channels is not None:
            for c in channels:
                if c not in spec.channels:
                    self.w([*loc, "channels"], f"department {dept!r} has no {c!r} channel")
        paths = [c for c in (channels or spec.channels) if c in PUSH_KINDS and c in spec.channels]
        if mandatory and len(paths) < 2:
            self.w(
                [*loc, "departments"],
                f"mandatory recipient {dept!r} needs at least two contact paths the router pushes to, has {paths}",
            )

    def _can_fire(self, loc: list[str | int], compiled: CompiledRule) -> None:
        if compiled.event_names is not None and Hazard.OTHER not in compiled.hazards:
            self.w([*loc, "when", "event_names"], "event_names only match hazard other; this rule can never fire")
            return
        for product in compiled.products:
            spec = self.wf.products.get(product)
            if spec is None:
                continue
            for hazard in compiled.hazards:
                if hazard not in self.wf.hazards or (spec.hazards is not None and hazard not in spec.hazards):
                    continue
                if spec.graded == "none":
                    ranks: tuple[int, ...] = (0,)
                elif spec.graded == "level":
                    ranks = ALL_RANKS
                else:
                    ranks = tuple(Severity(c).rank for c in self.wf.hazards[hazard].signal_colours)
                if any(r >= compiled.min_rank for r in ranks):
                    return
        self.w([*loc, "when"], "no product, hazard and level this rule names can occur; it can never fire")

    def _unrouted(self, config: RoutingConfig) -> None:
        """Every product × hazard × grade that can occur must reach someone (no silent drop)."""
        for product in Product:
            for hazard in Hazard:
                for rank in config.valid_ranks(product, hazard):
                    if not any(r.matches(product, hazard, rank, "") for r in config.rules if r.event_names is None):
                        grade = "ungraded" if rank == 0 else Severity(_COLOURS[rank - 1]).value
                        self.w(["rules"], f"no rule routes a {product.value} for {hazard.value} at {grade}")


_COLOURS = ("blue", "yellow", "orange", "red")


def compile_ladders(spec: Escalation, city: str = "", duty_at: frozenset[str] = frozenset()) -> Ladders:
    """The ``escalation`` section of warnings.yaml, compiled for the pure ladder."""
    return Ladders(
        ladders={
            name: tuple(Rung(s.seconds, s.send, s.alert is not None) for s in steps)
            for name, steps in spec.ladders.items()
        },
        choices=tuple(
            Choice(
                frozenset(k.value for k in c.kinds) if c.kinds is not None else None,
                frozenset(c.departments) if c.departments is not None else None,
                grade_from_word(c.min_level) if c.min_level else 0,
                c.ladder,
            )
            for c in spec.select
        ),
        duty_department=spec.duty_office.department,
        duty_channels=tuple(spec.duty_office.channels),
        no_ack=frozenset(k.value for k in spec.acknowledge_not_required),
        confirm_only=frozenset(k.value for k in spec.confirm_only),
        city=city,
        duty_at=duty_at,
    )
