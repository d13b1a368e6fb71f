"""OASIS CAP 1.2, as CMA publishes it (bilingual info blocks, CPEAS geocodes) and in general.

What CAP 1.2 requires is required here: ``identifier``, ``sender``, ``sent``, ``status``, ``msgType`` and
``scope`` in the alert; ``category``, ``event``, ``urgency``, ``severity`` and ``certainty`` in every info
block; ``areaDesc`` in every area. ``identifier`` and ``sender`` may not contain spaces, commas, ``<`` or
``&`` (§3.2.1: they are joined with commas in ``references``). A message that lacks one is refused naming
the element. No sender warnroute receives needs leniency (CMA's, the national platform's and every public
sample in tests/data conform); one that did would be named here with the element it may omit.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.etree.ElementTree import Element

from router.errors import InvalidMessage, UnknownSchema
from router.parsers.raw import RawWarning

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
_NS = {"cap": CAP12}
WHERE = {
    "identifier": "alert/identifier",
    "sender": "alert/sender",
    "sent": "alert/sent",
    "status": "alert/status",
    "msg_type": "alert/msgType",
    "references": "alert/references",
    "event": "alert/info/event",
    "event_code": "alert/info/eventCode",
    "severity": "alert/info/severity",
    "headline": "alert/info/headline",
    "areas": "alert/info/area/geocode",
    "onset": "alert/info/onset",
    "expires": "alert/info/expires",
    "info": "alert/info",
}
REQUIRED_ALERT = ("identifier", "sender", "sent", "status", "msgType", "scope")
REQUIRED_INFO = ("category", "event", "urgency", "severity", "certainty")
FORBIDDEN_IN_IDS = " ,<&"


def parse_cap(root: Element) -> RawWarning:
    """Extract the router's fields from a CAP 1.2 ``<alert>``; the zh info block is preferred."""
    if root.tag != f"{{{CAP12}}}alert":
        raise UnknownSchema("alert", f"root element {root.tag!r} is not a CAP 1.2 alert")

    def text(node: Element, path: str) -> str:
        found = node.findtext(path, default="", namespaces=_NS)
        return found.strip()

    _conforms(root, text)
    raw = RawWarning(fmt="cap", where=WHERE)
    raw.identifier = text(root, "cap:identifier")
    raw.sender = text(root, "cap:sender")
    raw.sent = text(root, "cap:sent")
    raw.status = text(root, "cap:status")
    raw.msg_type = text(root, "cap:msgType")
    raw.references = [_reference(r) for r in text(root, "cap:references").split()]
    infos = root.findall("cap:info", _NS)
    if not infos:
        return raw
    zh = [i for i in infos if text(i, "cap:language").lower().startswith("zh")]
    info = zh[0] if zh else infos[0]
    raw.event = text(info, "cap:event") or None
    raw.fill_info(lambda tag: text(info, f"cap:{tag}"))
    for code in info.findall("cap:eventCode", _NS):
        value = text(code, "cap:value")
        if value.startswith("11B"):
            raw.event_code = value
    for area in info.findall("cap:area", _NS):
        for geocode in area.findall("cap:geocode", _NS):
            raw.geocodes.append((text(geocode, "cap:valueName"), text(geocode, "cap:value")))
    if not raw.geocodes and info.find("cap:area", _NS) is not None:
        raw.geocodes.append(("areaDesc", text(info, "cap:area/cap:areaDesc") or "(no geocode)"))
    return raw


def _conforms(root: Element, text: Callable[[Element, str], str]) -> None:
    """Refuse, naming the element, what CAP 1.2 requires and this message lacks."""
    for tag in REQUIRED_ALERT:
        if not text(root, f"cap:{tag}"):
            raise InvalidMessage(f"alert/{tag}", f"missing: CAP 1.2 requires <{tag}> in <alert>")
    for tag in ("identifier", "sender"):
        value = text(root, f"cap:{tag}")
        bad = sorted({c for c in value if c in FORBIDDEN_IN_IDS}, key=FORBIDDEN_IN_IDS.index)
        if bad:
            named = ", ".join({" ": "spaces", ",": "commas"}.get(c, repr(c)) for c in bad)
            raise InvalidMessage(f"alert/{tag}", f"CAP 1.2 forbids {named} in <{tag}> (references join them by commas)")
    for info in root.findall("cap:info", _NS):
        for tag in REQUIRED_INFO:
            if not text(info, f"cap:{tag}"):
                raise InvalidMessage(
                    f"alert/info/{tag}", f"missing (no {tag}): CAP 1.2 requires <{tag}> in every <info>"
                )
        for area in info.findall("cap:area", _NS):
            if not text(area, "cap:areaDesc"):
                raise InvalidMessage("alert/info/area/areaDesc", "missing: CAP 1.2 requires <areaDesc> in every <area>")


def _reference(triple: str) -> str:
    """``sender,identifier,sent`` → ``identifier``; a bare identifier stays as it is."""
    parts = triple.split(",")
    return parts[1] if len(parts) == 3 else triple
