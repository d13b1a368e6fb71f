"""Voice calls through the generic HTTP gateway, with keypress confirmation.

``POST {base}/voice/call`` (with ``confirm_key``) → ``{"call_id"}``; the gateway posts
``{call_id, status: answered|no_answer|failed, keypress}`` to ``/api/v1/receipts/voice``: answered is
a delivery; the confirm key pressed is a person confirming.
"""

from __future__ import annotations

from router.domain.channels import CONFIRM_KEY
from router.handlers.gateway import GatewayHandler


class VoiceHandler(GatewayHandler):
    kind = "voice"
    path = "/voice/call"
    id_field = "call_id"
    extra = {"confirm_key": CONFIRM_KEY}  # noqa: RUF012 - read-only, shared by every call
