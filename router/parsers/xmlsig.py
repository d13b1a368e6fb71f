"""XML signatures on CAP and national XML messages (XML-DSig, enveloped), verified when configured.

With a bureau certificate configured (``WARNROUTE_XML_SIGNING_CERT``, a PEM file), every XML message
must carry an enveloped signature made with that certificate's key; what is routed is then the
signed content as the verifier returns it (never the bytes around it, so a signature cannot vouch for
content wrapped beside the signed element). The hardened checks of :mod:`router.parsers.xmlsafe` run
first. JSON messages carry no XML signature: they come through signed ingest (token + HMAC).
"""

from __future__ import annotations

from pathlib import Path

from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.verifier import XMLVerifier

from router.errors import UnsignedMessage
from router.parsers.xmlsafe import parse_xml


class XmlSignatures:
    def __init__(self, cert_file: Path) -> None:
        self.cert = cert_file.read_text(encoding="ascii")

    def signed_content(self, data: bytes) -> bytes:
        """The signed XML of ``data`` (JSON passes through); raises UnsignedMessage saying what is wrong."""
        if data.lstrip()[:1] != b"<":
            return data
        parse_xml(data)  # size, depth, DTD and entity checks before anything else reads it
        if b"Signature" not in data:
            raise UnsignedMessage("Signature", "an XML signature by the bureau's certificate is required")
        try:
            result = XMLVerifier().verify(data, x509_cert=self.cert)
        except (InvalidSignature, InvalidInput) as exc:
            raise UnsignedMessage("Signature", f"the XML signature does not verify ({exc})") from None
        if isinstance(result, list):  # several signed references: not the enveloped profile
            raise UnsignedMessage("Signature", "expected one enveloped signature over the whole message")
        signed: bytes = result.signed_data
        return signed
