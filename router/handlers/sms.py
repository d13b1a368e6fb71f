"""SMS through the generic HTTP gateway: ``POST {base}/sms/send`` → ``{"message_id"}``; the gateway
posts ``{message_id, status: delivered|failed}`` to ``/api/v1/receipts/sms``."""

from __future__ import annotations

from router.handlers.gateway import GatewayHandler


class SmsHandler(GatewayHandler):
    kind = "sms"
    path = "/sms/send"
    id_field = "message_id"
