"""warnroute's own JSON format, for what CAP has no field for (report level, nowcast onset and
townships, rainfall, forecast lead days). Its JSON Schema is generated from ``JsonWarningMessage``
(``warnroute schema``; docs/schema/warning.schema.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, WithJsonSchema

from router.domain.models import Hazard, Level, MsgType, Product, Severity, Status
from router.errors import InvalidMessage, MalformedMessage, UnknownSchema
from router.parsers.raw import RawWarning

SCHEMA_ID = "warnroute.warning/1"
AreaCode = Annotated[str, StringConstraints(pattern=r"^(\d{6}|\d{9}|\d{12})$")]
TownshipCode = Annotated[str, StringConstraints(pattern=r"^\d{9}$")]
Time = Annotated[
    datetime,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$",
            "description": "ISO 8601 date-time; without a UTC offset it is Beijing time (+08:00)",
        }
    ),
]


class JsonWarningMessage(BaseModel):
    """A warning as the bureau may send it in JSON. Times without a UTC offset are Beijing time."""

    model_config = ConfigDict(
        extra="forbid",
        title="warnroute warning message",
        populate_by_name=True,
        json_schema_extra={"$id": "https://warnroute.invalid/schema/warning-1.json"},
    )

    schema_: Literal["warnroute.warning/1"] = Field(alias="schema", description="format and version")
    identifier: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\s,<&]+$")] = Field(
        description="as CAP 1.2: no spaces, commas, < or &"
    )
    sender: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s,<&]+$")] = Field(
        description="as CAP 1.2: no spaces, commas, < or &"
    )
    sender_code: Annotated[str, StringConstraints(pattern=r"^\d{14}$")] | None = Field(
        None, description="ZZZZZZDDDUUUXX: 6-digit area code, 416 for a meteorological office, 000, 00"
    )
    sent: Time
    status: Status = Status.ACTUAL
    msg_type: MsgType = MsgType.ALERT
    all_clear: bool = Field(False, description="an Update that lifts the warning it references")
    references: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        [], max_length=32, description="identifiers of the messages this one updates or lifts"
    )
    product: Product | None = Field(None, description="if absent, told from the headline or the sender")
    hazard: Hazard | None = Field(None, description="if absent, told from event or the headline")
    event: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="the event name as issued (暴雨, 雷雨大风 …)"
    )
    severity: Severity | None = Field(None, description="signal colour")
    level: Level | None = Field(None, description="report level Ⅳ…Ⅰ as IV, III, II, I")
    areas: list[AreaCode] = Field(min_length=1, max_length=200, description="county or township codes")
    key_townships: list[TownshipCode] = Field([], max_length=200, description="nowcast: 重点乡镇")
    onset: Time | None = Field(None, description="nowcast: expected onset of the heavy rain")
    expires: Time | None = None
    headline: Annotated[str, StringConstraints(max_length=500)] = ""
    description: Annotated[str, StringConstraints(max_length=8000)] = ""
    rainfall_mm: dict[AreaCode, Annotated[float, Field(ge=0, le=2000)]] = Field(
        {}, max_length=200, description="nowcast: expected rainfall per area"
    )
    lead_days: int | None = Field(None, ge=1, le=3, description="forecast: issued this many days ahead")


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of the format."""
    return JsonWarningMessage.model_json_schema(by_alias=True)


def parse_json(data: bytes) -> RawWarning:
    try:
        msg = JsonWarningMessage.model_validate_json(data)
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"]) or "message"
        if err["type"] == "json_invalid":
            raise MalformedMessage("json", f"not well-formed JSON ({err['msg']})") from None
        if loc == "schema":
            raise UnknownSchema("schema", f'expected "schema": "{SCHEMA_ID}"') from None
        problem = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise InvalidMessage(loc, problem) from None
    raw = RawWarning(fmt="json", where={"areas": "areas", "event": "event", "info": "event"})
    raw.identifier = msg.identifier
    raw.sender = msg.sender
    raw.sender_code = msg.sender_code
    raw.sent = msg.sent.isoformat()
    raw.status = msg.status.value
    raw.msg_type = msg.msg_type.value
    raw.all_clear = msg.all_clear
    raw.references = list(msg.references)
    raw.product = msg.product.value if msg.product else None
    raw.hazard = msg.hazard.value if msg.hazard else None
    raw.event = msg.event
    raw.severity = msg.severity.value if msg.severity else None
    raw.level = msg.level.value if msg.level else None
    raw.geocodes = [("area", a) for a in msg.areas]
    raw.key_townships = list(msg.key_townships)
    raw.onset = msg.onset.isoformat() if msg.onset else None
    raw.expires = msg.expires.isoformat() if msg.expires else None
    raw.headline = msg.headline
    raw.description = msg.description
    raw.rainfall_mm = dict(msg.rainfall_mm)
    raw.lead_days = msg.lead_days
    return raw
