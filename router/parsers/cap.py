"""OASIS CAP 1.2, as CMA publishes it (bilingual info blocks, CPEAS geocodes) and in general."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from router.errors import UnknownSchema
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


def parse_cap(root: Element) -> RawWarning:
    """Extract the router's fields from a CAP 1.2 ``<alert>``; the zh info block is preferred."""
    if root.tag != f"{{{CAP12}}}alert":
        raise UnknownSchema("alert", f"root element {root.tag!r} is not a CAP 1.2 alert")

    def text(node: Element, path: str) -> str:
        found = node.findtext(path, default="", namespaces=_NS)
        return found.strip()

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


def _reference(triple: str) -> str:
    """``sender,identifier,sent`` → ``identifier``; a bare identifier stays as it is."""
    parts = triple.split(",")
    return parts[1] if len(parts) == 3 else triple
