"""Situation reports: what departments and governments send back up (plan §4.1, §5.4, §5.6; DESIGN §13). Pure.

A report has a kind (the plan's list in §4.1, and §5.4/§5.6's losses and measures), who reports (an office:
jurisdiction and department), where (county or township codes), when it was observed, typed figures that
belong to its kind, free text, and optionally the warning or obligation it answers. A later report may
``replace`` an earlier one of the same office and kind (an update of a rising count, or a correction): its
figures then stand instead, and the earlier one is no longer summed.

The model checks what it can on its own (figures of the kind, non-negative, whole counts, one schema); what
needs the plan (places, offices) or a clock is checked by the service (:mod:`router.reports.service`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

SCHEMA = "warnroute.report/1"


class ReportKind(StrEnum):
    WATER = "water"  # 水情 (§4.1)
    DROUGHT = "drought"  # 旱情 (§4.1)
    FIRE = "fire"  # 森林草原火情 (§4.1)
    GEOHAZARD = "geohazard"  # 地质灾害灾（险）情 (§4.1)
    PEST = "pest"  # 植物病虫害 (§4.1)
    POLLUTION = "pollution"  # 环境污染 (§4.1)
    LOSSES = "losses"  # 灾情 / 人员伤亡 (§5.4, §5.6)
    MEASURES = "measures"  # 防御措施落实 (§4.5, §5.6)


KIND_NAMES: dict[ReportKind, str] = {
    ReportKind.WATER: "水情",
    ReportKind.DROUGHT: "旱情",
    ReportKind.FIRE: "森林草原火情",
    ReportKind.GEOHAZARD: "地质灾害灾（险）情",
    ReportKind.PEST: "植物病虫害",
    ReportKind.POLLUTION: "环境污染",
    ReportKind.LOSSES: "灾情 / 人员伤亡",
    ReportKind.MEASURES: "防御措施落实",
}


@dataclass(frozen=True, slots=True)
class Figure:
    name: str  # Chinese, as a form labels it
    unit: str
    whole: bool  # a count: a whole number


FIGURES: dict[str, Figure] = {
    "dead": Figure("死亡", "人", True),
    "missing": Figure("失踪", "人", True),
    "injured": Figure("受伤", "人", True),
    "people_affected": Figure("受灾人口", "人", True),
    "people_moved": Figure("转移安置人员", "人", True),
    "people_threatened": Figure("受威胁人员", "人", True),
    "houses_damaged": Figure("房屋损坏", "间", True),
    "houses_collapsed": Figure("房屋倒塌", "间", True),
    "crop_area_ha": Figure("农作物受灾面积", "公顷", False),
    "direct_loss_wan": Figure("直接经济损失", "万元", False),
    "rainfall_mm": Figure("降雨量", "毫米", False),
    "water_level_m": Figure("水位", "米", False),
    "over_warning_m": Figure("超警戒水位", "米", False),
    "people_short_of_water": Figure("饮水困难人口", "人", True),
    "livestock_short_of_water": Figure("饮水困难大牲畜", "头", True),
    "fires": Figure("火点", "处", True),
    "burned_area_ha": Figure("过火面积", "公顷", False),
    "hazard_sites": Figure("灾（险）情点", "处", True),
    "pest_area_ha": Figure("病虫害发生面积", "公顷", False),
    "pollution_events": Figure("污染事件", "起", True),
    "teams_prepositioned": Figure("预置救援队伍", "支", True),
    "rescuers_prepositioned": Figure("预置救援人员", "人", True),
}
"""Every figure a report can carry (DESIGN §13), with its label, unit and whether it counts whole things."""

CASUALTIES = ("dead", "missing", "injured")
KIND_FIGURES: dict[ReportKind, tuple[str, ...]] = {
    ReportKind.WATER: ("rainfall_mm", "water_level_m", "over_warning_m", "people_affected", "people_moved"),
    ReportKind.DROUGHT: ("people_short_of_water", "livestock_short_of_water", "crop_area_ha", "people_affected"),
    ReportKind.FIRE: ("fires", "burned_area_ha", "people_moved", *CASUALTIES),
    ReportKind.GEOHAZARD: (
        "hazard_sites",
        "people_threatened",
        "people_moved",
        *CASUALTIES,
        "houses_damaged",
        "houses_collapsed",
        "direct_loss_wan",
    ),
    ReportKind.PEST: ("pest_area_ha", "crop_area_ha"),
    ReportKind.POLLUTION: ("pollution_events", "people_affected"),
    ReportKind.LOSSES: (
        *CASUALTIES,
        "people_affected",
        "people_moved",
        "houses_damaged",
        "houses_collapsed",
        "crop_area_ha",
        "direct_loss_wan",
    ),
    ReportKind.MEASURES: ("people_moved", "teams_prepositioned", "rescuers_prepositioned"),
}
"""The figures that belong to each kind: another is refused, naming it."""

LEVELS = ("rainfall_mm", "water_level_m", "over_warning_m")
"""Figures that are levels, not amounts: a total gives the highest reported, every other figure is summed."""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


def _figure_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            name: {
                "type": "integer" if f.whole else "number",
                **({} if name == "water_level_m" else {"minimum": 0}),
                "description": f"{f.name}（{f.unit}）",
            }
            for name, f in FIGURES.items()
        },
    }


def _kind_schema() -> list[dict[str, Any]]:
    return [
        {
            "if": {"properties": {"kind": {"const": kind.value}}},
            "then": {"properties": {"figures": {"propertyNames": {"enum": list(names)}}}},
        }
        for kind, names in KIND_FIGURES.items()
    ]


class SituationReport(BaseModel):
    """One situation report as filed (``POST /api/v1/reports``, the report form, the reports topic)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="warnroute situation report",
        json_schema_extra={"allOf": _kind_schema()},  # type: ignore[dict-item]
    )

    schema_: Literal["warnroute.report/1"] = Field(alias="schema", description="always warnroute.report/1")
    id: str = Field(pattern=ID_PATTERN, description="the reporter's id for this report (sending it again is safe)")
    kind: ReportKind
    jurisdiction: str = Field(min_length=1, max_length=16, description="the reporting office's place code")
    department: str = Field(min_length=1, max_length=64, description="the reporting office's department key")
    areas: tuple[str, ...] = Field(default=(), max_length=64, description="county or township codes it covers")
    observed_at: AwareDatetime = Field(description="when what it reports was observed (ISO 8601 with offset)")
    figures: dict[str, float] = Field(
        default_factory=dict, description="the kind's figures, by name", json_schema_extra=_figure_schema()
    )
    text: str = Field(default="", max_length=2000)
    answers: str | None = Field(default=None, max_length=64, description="the warning or obligation it answers")
    replaces: str | None = Field(
        default=None, pattern=ID_PATTERN, description="an earlier report of this office and kind it updates or corrects"
    )
    on_behalf: bool = Field(default=False, description="the duty office files for the office named")
    reason: str | None = Field(default=None, max_length=500, description="why the duty office files for it")

    @model_validator(mode="after")
    def _of_kind(self) -> SituationReport:
        allowed = KIND_FIGURES[self.kind]
        for name, value in self.figures.items():
            figure = FIGURES.get(name)
            if figure is None:
                raise ValueError(f"figures.{name}: unknown figure {name!r}; known: {', '.join(FIGURES)}")
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"figures.{name}: {name} is not a number")
            if value < 0 and name != "water_level_m":
                raise ValueError(f"figures.{name}: {name} is {value:g}; {figure.name} cannot be negative")
            if figure.whole and value != int(value):
                raise ValueError(f"figures.{name}: {name} is {value:g}; a count of {figure.unit} is a whole number")
            if name not in allowed:
                raise ValueError(
                    f"figures.{name}: {name} does not belong to a {self.kind.value} report; its figures: "
                    + ", ".join(allowed)
                )
        if self.on_behalf and not (self.reason or "").strip():
            raise ValueError("reason: the duty office says why it files on an office's behalf")
        if self.replaces == self.id:
            raise ValueError("replaces: a report cannot replace itself")
        return self


def report_problem(message: str) -> tuple[str, str]:
    """(field, problem) from a model-level error's message ("figures.dead: …" names its field first)."""
    head, sep, rest = message.partition(": ")
    if sep and " " not in head:
        return head, rest
    return "body", message


def report_schema() -> dict[str, Any]:
    """The published JSON Schema of a situation report (docs/schema/report.schema.json)."""
    return SituationReport.model_json_schema(by_alias=True)
