"""Parsing inbound messages into ``WeatherWarning``: format detection, then one parser per format.

``parse_message(data, config)`` accepts CAP 1.2 XML, the national platform XML or warnroute JSON
and either returns a warning or raises an ``InvalidMessage`` subclass naming the field and the
problem. It never raises anything else for any input bytes.
"""

from __future__ import annotations

from router.domain.models import WeatherWarning
from router.errors import InvalidMessage, MalformedMessage, TooLarge, UnknownSchema
from router.parsers.cap import CAP12, parse_cap
from router.parsers.jsonfmt import parse_json
from router.parsers.national import looks_national, parse_national
from router.parsers.normalise import normalise
from router.parsers.raw import RawWarning
from router.parsers.xmlsafe import MAX_BYTES, parse_xml
from router.plan.config import RoutingConfig

__all__ = ["parse_message", "parse_raw"]


def parse_raw(data: bytes) -> RawWarning:
    """Detect the format of ``data`` and extract its fields, without consulting the configuration."""
    if len(data) > MAX_BYTES:
        raise TooLarge("message", f"{len(data)} bytes is over the {MAX_BYTES}-byte limit")
    head = data.lstrip()[:1]
    if head == b"\xef":  # a UTF-8 byte-order mark
        head = data.lstrip()[3:4]
    if head == b"{":
        return parse_json(data)
    if head == b"<":
        root = parse_xml(data)
        if root.tag.startswith("{urn:oasis:names:tc:emergency:cap:"):
            if root.tag != f"{{{CAP12}}}alert":
                version = root.tag.split("cap:")[1].split("}")[0]
                raise UnknownSchema("alert", f"CAP {version} is not accepted; send CAP 1.2 ({CAP12})")
            return parse_cap(root)
        if looks_national(root):
            return parse_national(root)
        raise UnknownSchema("message", f"root element {root.tag!r} is neither CAP 1.2 nor the national XML")
    if not data.strip():
        raise MalformedMessage("message", "empty message")
    raise UnknownSchema("message", "neither XML nor JSON")


def parse_message(data: bytes, config: RoutingConfig) -> WeatherWarning:
    """Parse and validate one message against ``config``; raises ``InvalidMessage`` on rejection."""
    try:
        return normalise(parse_raw(data), config)
    except InvalidMessage:
        raise
    except (ValueError, TypeError, LookupError, UnicodeError, RecursionError) as exc:
        # Defence in depth: a parser bug must still reject with a reason, never crash the router.
        raise MalformedMessage("message", f"cannot be read ({type(exc).__name__})") from None
