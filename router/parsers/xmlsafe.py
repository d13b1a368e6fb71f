"""Hardened XML parsing: no DTDs, no entities, no external references; bounded size, depth and count."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from router.errors import MalformedMessage, TooLarge

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_ELEMENTS = 20_000


def parse_xml(data: bytes) -> Element:
    """Parse ``data`` into an element tree, or raise ``MalformedMessage`` saying why not."""
    if len(data) > MAX_BYTES:
        raise TooLarge("message", f"{len(data)} bytes is over the {MAX_BYTES}-byte limit")
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise MalformedMessage("xml", "a DTD (<!DOCTYPE …>) is not accepted") from None
    except defusedxml.EntitiesForbidden:
        raise MalformedMessage("xml", "entity declarations are not accepted") from None
    except defusedxml.ExternalReferenceForbidden:
        raise MalformedMessage("xml", "external references are not accepted") from None
    except ParseError as exc:
        raise MalformedMessage("xml", f"not well-formed XML ({exc})") from None
    except LookupError as exc:  # an encoding declaration Python does not know
        raise MalformedMessage("xml", f"not well-formed XML ({exc})") from None
    _check_shape(root)
    return root


def _check_shape(root: Element) -> None:
    count = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise MalformedMessage("xml", f"nested deeper than {MAX_DEPTH} elements")
        if count > MAX_ELEMENTS:
            raise MalformedMessage("xml", f"more than {MAX_ELEMENTS} elements")
        stack.extend((child, depth + 1) for child in node)
