"""From extracted fields to a validated ``WeatherWarning``: detection rules and every rejection.

Order of checks: identity and times, status and message type, areas (jurisdiction), hazard,
product, grade, then national validity of the hazard × colour. Each rejection names the field as
the source format spells it and says what is wrong.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

from pydantic import ValidationError

from router.domain.models import Change, Hazard, Level, MsgType, Product, Severity, Status, WeatherWarning
from router.errors import InvalidMessage, UnroutableWarning
from router.parsers.raw import RawWarning
from router.plan.config import RoutingConfig

_E = TypeVar("_E", Status, MsgType)
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
_COMPACT_TIME = re.compile(r"^\d{14}$")
_COLOUR = re.compile(r"(蓝|黄|橙|红)色")
_LEVEL = re.compile(r"(Ⅳ|Ⅲ|Ⅱ|Ⅰ|IV|III|II|I)\s*级")
_COLOURS = {"蓝": Severity.BLUE, "黄": Severity.YELLOW, "橙": Severity.ORANGE, "红": Severity.RED}
_ROMAN = {"Ⅳ": "IV", "Ⅲ": "III", "Ⅱ": "II", "Ⅰ": "I", "IV": "IV", "III": "III", "II": "II", "I": "I"}
_SEVERITY_WORDS = {
    "minor": Severity.BLUE,
    "moderate": Severity.YELLOW,
    "severe": Severity.ORANGE,
    "extreme": Severity.RED,
    "blue": Severity.BLUE,
    "yellow": Severity.YELLOW,
    "orange": Severity.ORANGE,
    "red": Severity.RED,
}
_CHANGES = (
    (Change.UPGRADE, ("升级",)),
    (Change.DOWNGRADE, ("降级",)),
    (Change.CONTINUE, ("继续", "续发")),
    (Change.CHANGE, ("变更", "更新", "调整")),
)
_PRODUCT_ORDER = (Product.NOWCAST, Product.FORECAST, Product.SIGNAL, Product.REPORT)
_LIMITS = {"identifier": 128, "sender": 200, "headline": 500, "description": 8000}


def normalise(raw: RawWarning, config: RoutingConfig) -> WeatherWarning:
    for name, limit in _LIMITS.items():
        value: str = getattr(raw, name)
        if len(value) > limit:
            raise InvalidMessage(raw.name(name), f"{len(value)} characters is over the {limit}-character limit")
    for name in ("identifier", "sender", "sent"):
        if not getattr(raw, name):
            raise InvalidMessage(raw.name(name), "missing")
    issued_at = _time(raw.sent, raw.name("sent"))
    status = _status(raw)
    msg_type = _msg_type(raw)
    if not (raw.event or raw.event_code or raw.hazard or raw.headline or raw.geocodes):
        raise InvalidMessage(raw.name("info"), "missing: the message says nothing about the hazard or the area")
    if msg_type is MsgType.CANCEL and not raw.references:
        raise InvalidMessage(raw.name("references"), "a Cancel must reference the message it cancels")
    areas = _areas(raw, config)
    issuer = _issuer(raw, config)
    hazard, hazard_name = _hazard(raw, config)
    product = _product(raw, config, issuer)
    allowed = config.products[product].hazards
    if allowed is not None and hazard not in allowed:
        raise UnroutableWarning(
            raw.name("event"), f"a {product.value} is for {', '.join(h.value for h in allowed)}, not {hazard.value}"
        )
    severity, level = _grade(raw, product)
    if product is Product.SIGNAL and severity is not None:
        spec = config.hazards[hazard]
        if severity.value not in spec.signal_colours:
            raise UnroutableWarning(
                raw.name("severity"),
                f"a {severity.value} {spec.en} signal does not exist nationally "
                f"({spec.zh} signals are {', '.join(spec.signal_colours)})",
            )
    jurisdiction = _jurisdiction(raw, config, product, issuer, areas)
    onset = _time(raw.onset, raw.name("onset")) if raw.onset else None
    expires = _time(raw.expires, raw.name("expires")) if raw.expires else None
    if expires is not None and expires <= issued_at:
        raise InvalidMessage(raw.name("expires"), "expires at or before the time it was sent")
    if product is Product.NOWCAST and onset is None:
        raise InvalidMessage(raw.name("onset"), "a nowcast needs the expected onset of the heavy rain")
    for town in raw.key_townships:
        if town not in config.township_county:
            raise UnroutableWarning("key_townships", f"{town} is not a township of the configured jurisdictions")
    words = raw.headline + raw.description
    all_clear = raw.all_clear or (
        msg_type is MsgType.UPDATE
        and (
            (raw.response_type or "").lower() == "allclear"
            or (raw.urgency or "").lower() == "past"
            or "解除" in raw.headline
        )
    )
    change = None
    if msg_type is MsgType.UPDATE and not all_clear:
        change = next((c for c, keys in _CHANGES if any(k in words for k in keys)), None)
    try:
        return WeatherWarning(
            id=raw.identifier,
            sender=raw.sender,
            sender_code=raw.sender_code,
            issued_at=issued_at,
            status=status,
            msg_type=msg_type,
            all_clear=all_clear,
            change=change,
            references=tuple(raw.references),
            product=product,
            hazard=hazard,
            hazard_name=hazard_name,
            severity=severity,
            level=level,
            jurisdiction=jurisdiction,
            areas=areas,
            onset=onset,
            expires=expires,
            headline=raw.headline,
            description=raw.description,
            key_townships=tuple(raw.key_townships),
            rainfall_mm=tuple(sorted(raw.rainfall_mm.items())),
            lead_days=raw.lead_days,
        )
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        raise InvalidMessage(raw.name("severity"), err["msg"].removeprefix("Value error, ")) from None


def _time(text: str, field: str) -> datetime:
    value = text.strip()
    try:
        if _COMPACT_TIME.match(value):
            parsed = datetime.strptime(value, "%Y%m%d%H%M%S")
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidMessage(field, f"not an ISO 8601 date-time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=BEIJING)
    if parsed.utcoffset() == timedelta(0):
        return parsed.astimezone(UTC)
    return parsed


def _status(raw: RawWarning) -> Status:
    return _enum(raw, "status", Status, "status", "Actual, Exercise and Test")


def _msg_type(raw: RawWarning) -> MsgType:
    return _enum(raw, "msg_type", MsgType, "message type", "Alert, Update and Cancel")


def _enum(raw: RawWarning, name: str, enum: type[_E], label: str, routed: str) -> _E:
    given: str = getattr(raw, name)
    if not given.strip():
        raise InvalidMessage(raw.name(name), "missing")
    try:
        return enum(given.strip().lower())
    except ValueError:
        raise UnroutableWarning(raw.name(name), f"{label} {given!r} is not routed (only {routed} are)") from None


def _outside(config: RoutingConfig) -> str:
    return (
        f"outside the configured jurisdictions ({config.jurisdictions[config.city].zh} {config.city} and its counties)"
    )


def _areas(raw: RawWarning, config: RoutingConfig) -> tuple[str, ...]:
    field = raw.name("areas")
    if not raw.geocodes:
        raise UnroutableWarning(field, "no area given")
    out: list[str] = []
    for name, value in raw.geocodes:
        code = value.strip()
        if name == "areaDesc":
            raise UnroutableWarning(field, f"area {code[:60]!r} has no geocode; give areas as GB/T 2260 / CPEAS codes")
        if not (code.isascii() and code.isdigit()) or len(code) not in (6, 9, 12):
            label = f"{name} {code}" if name not in ("geocode", "area") else code
            raise UnroutableWarning(field, f"area {label[:60]!r} is {_outside(config)}")
        if len(code) == 12:
            code = code[:6] if code.endswith("000000") else code[:9]
        if len(code) == 6:
            if code != config.city and config.jurisdictions.get(code) is None:
                raise UnroutableWarning(field, f"area {value.strip()} is {_outside(config)}")
        elif code not in config.township_county:
            county = config.jurisdictions.get(code[:6])
            if county is None:
                raise UnroutableWarning(field, f"area {value.strip()} is {_outside(config)}")
            raise UnroutableWarning(field, f"area {value.strip()} is not a known township of {county.zh} {code[:6]}")
        out.append(code)
    return tuple(dict.fromkeys(out))


def _issuer(raw: RawWarning, config: RoutingConfig) -> str | None:
    """The issuing office's jurisdiction, from the sender code or a CMA-style identifier prefix."""
    candidates = []
    if raw.sender_code and raw.sender_code[:6].isascii() and raw.sender_code[:6].isdigit():
        candidates.append(raw.sender_code[:6])
    if raw.identifier[:9].isascii() and raw.identifier[:9].isdigit() and raw.identifier[6:9] == "416":
        candidates.append(raw.identifier[:6])
    for code in candidates:
        if code in config.jurisdictions:
            return code
    return None


def _hazard(raw: RawWarning, config: RoutingConfig) -> tuple[Hazard, str]:
    if raw.hazard:
        hazard = Hazard(raw.hazard)
        return hazard, raw.event or _headline_name(raw.headline, config, hazard) or config.hazards[hazard].zh
    if raw.event_code:
        coded = config.hazard_by_code.get(raw.event_code)
        if coded is not None and coded is not Hazard.OTHER:
            return coded, config.hazards[coded].zh
        return Hazard.OTHER, _headline_name(raw.headline, config, Hazard.OTHER) or raw.event_code
    if raw.event:
        named = config.hazard_by_name.get(raw.event.casefold())
        if named is not None:
            return named, raw.event
        found = _headline_hazard(raw.event, config)
        return (found[0] if found is not None else Hazard.OTHER), raw.event
    found = _headline_hazard(raw.headline, config)
    if found is None:
        raise InvalidMessage(raw.name("event"), "missing: no event, event type or hazard name in the headline")
    return found


def _headline_hazard(text: str, config: RoutingConfig) -> tuple[Hazard, str] | None:
    """The longest configured hazard name in ``text`` (so 雷雨大风 wins over 大风)."""
    folded = text.casefold()
    best: tuple[Hazard, str] | None = None
    for name, hazard in config.hazard_by_name.items():
        if name in folded and (best is None or len(name) > len(best[1])):
            best = (hazard, name)
    if best is None:
        return None
    hazard, name = best
    return hazard, (name if hazard is Hazard.OTHER else config.hazards[hazard].zh)


def _headline_name(text: str, config: RoutingConfig, hazard: Hazard) -> str | None:
    found = _headline_hazard(text, config)
    return found[1] if found is not None and found[0] is hazard else None


def _product(raw: RawWarning, config: RoutingConfig, issuer: str | None) -> Product:
    if raw.product:
        return Product(raw.product)
    product = next(
        (p for p in _PRODUCT_ORDER if any(w in raw.headline for w in config.products[p].headline_words)), None
    )
    issuer_level = config.jurisdictions[issuer].level if issuer is not None else None
    # County observatories issue signals (§4.2.3), whatever word their headline uses for them.
    if issuer_level == "county" and product in (None, Product.REPORT):
        return Product.SIGNAL
    if product is not None:
        return product
    if issuer_level == "city":
        return Product.REPORT
    raise InvalidMessage(
        raw.name("headline"),
        "cannot tell the product: no 预警信号 / 预警报告 / 临近预报 / 重要天气预报 in the headline and no "
        'Qujing sender code; send JSON with "product"',
    )


def _grade(raw: RawWarning, product: Product) -> tuple[Severity | None, Level | None]:
    if product in (Product.NOWCAST, Product.FORECAST):
        return None, None
    if raw.level:
        return (_SEVERITY_WORDS[raw.severity] if raw.severity else None), Level(raw.level)
    if raw.severity:
        structured = _SEVERITY_WORDS.get(raw.severity.strip().lower())
        if structured is not None:
            return structured, None
        if raw.severity.strip().lower() != "unknown":
            raise InvalidMessage(raw.name("severity"), f"unknown severity {raw.severity[:20]!r}")
    colours = _COLOUR.findall(raw.headline)
    if colours:
        # An upgrade or downgrade headline names both colours; the new one comes last.
        return _COLOURS[colours[-1]], None
    levels = _LEVEL.findall(raw.headline)
    if levels:
        return None, Level(_ROMAN[levels[-1]])
    raise InvalidMessage(raw.name("severity"), f"missing: a {product.value} needs a colour or a level")


def _jurisdiction(
    raw: RawWarning, config: RoutingConfig, product: Product, issuer: str | None, areas: tuple[str, ...]
) -> str:
    if product is not Product.SIGNAL:
        return config.city
    field = raw.name("areas")
    if issuer is not None and config.jurisdictions[issuer].level == "county":
        county = issuer
    else:
        counties = {a[:6] for a in areas}
        if config.city in counties or len(counties) != 1:
            raise UnroutableWarning(
                field, "a signal is issued by one county observatory; cannot tell the county from sender or areas"
            )
        county = counties.pop()
    for area in areas:
        if area[:6] != county:
            raise UnroutableWarning(field, f"area {area} is outside the issuing county {county}")
    return county
