"""The national platform's XML (GB/T 35965.1 style, the 12379 system): no namespace, coded fields."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from router.errors import UnknownSchema
from router.parsers.raw import RawWarning

WHERE = {
    "identifier": "alert/identifier",
    "sender": "alert/sender",
    "sent": "alert/sendTime",
    "status": "alert/status",
    "msg_type": "alert/msgType",
    "references": "alert/references",
    "event": "alert/info/eventType",
    "event_code": "alert/info/eventType",
    "severity": "alert/info/severity",
    "headline": "alert/info/headline",
    "areas": "alert/info/area/geocode",
    "onset": "alert/info/onset",
    "expires": "alert/info/expires",
    "info": "alert/info",
}


def looks_national(root: Element) -> bool:
    return root.tag == "alert" and (root.find("senderCode") is not None or root.find("sendTime") is not None)


def parse_national(root: Element) -> RawWarning:
    if not looks_national(root):
        raise UnknownSchema("alert", "no namespace and no senderCode/sendTime: not the national platform XML")

    def text(node: Element, path: str) -> str:
        return (node.findtext(path, default="") or "").strip()

    raw = RawWarning(fmt="national", where=WHERE)
    raw.identifier = text(root, "identifier")
    raw.sender = text(root, "sender")
    raw.sender_code = text(root, "senderCode") or None
    raw.sent = text(root, "sendTime")
    raw.status = text(root, "status")
    raw.msg_type = text(root, "msgType")
    raw.references = [r.strip() for r in text(root, "references").replace(",", " ").split() if r.strip()]
    info = root.find("info")
    if info is None:
        return raw
    raw.event_code = text(info, "eventType") or None
    raw.fill_info(lambda tag: text(info, tag))
    for area in info.findall("area"):
        for value in text(area, "geocode").split(","):
            if value.strip():
                raw.geocodes.append(("geocode", value.strip()))
    if not raw.geocodes and info.find("area") is not None:
        raw.geocodes.append(("areaDesc", text(info, "area/areaDesc") or "(no geocode)"))
    return raw
