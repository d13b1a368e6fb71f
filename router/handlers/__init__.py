"""Channel handlers: one module per delivery mechanism, and the explicit registry of them.

``build_handlers`` maps each channel kind to its handler, built from process settings and one
injected HTTP transport. The department feed is not a push channel: every obligation is in its
department's feed (pull with a cursor, or live over SSE) whatever else is sent.

Handlers import the domain and ``router.errors`` only: no store, no web framework, no service.
"""

from __future__ import annotations

from collections.abc import Mapping

from router.domain.channels import PUSH_KINDS
from router.handlers.base import ChannelHandler, HttpTransport
from router.handlers.email import EmailHandler
from router.handlers.im import DingtalkHandler, FeishuHandler, WecomHandler
from router.handlers.sms import SmsHandler
from router.handlers.voice import VoiceHandler
from router.handlers.webhook import WebhookHandler

PUSH_CHANNELS = PUSH_KINDS


def build_handlers(
    transport: HttpTransport,
    *,
    sms: tuple[str, str] | None = None,
    voice: tuple[str, str] | None = None,
    smtp: Mapping[str, str] | None = None,
) -> dict[str, ChannelHandler]:
    """Handlers for every channel that can work with these settings; (base URL, API key) per gateway."""
    handlers: dict[str, ChannelHandler] = {
        "webhook": WebhookHandler(transport),
        "wecom": WecomHandler(transport),
        "dingtalk": DingtalkHandler(transport),
        "feishu": FeishuHandler(transport),
    }
    if sms is not None:
        handlers["sms"] = SmsHandler(transport, *sms)
    if voice is not None:
        handlers["voice"] = VoiceHandler(transport, *voice)
    if smtp is not None:
        handlers["email"] = EmailHandler(
            smtp["host"],
            int(smtp.get("port", "25")),
            smtp.get("from", "warnroute@localhost"),
            smtp.get("username"),
            smtp.get("password"),
        )
    return handlers
