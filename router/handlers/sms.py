"""SMS through a generic HTTP gateway adapter.

``POST {base}/sms/send`` with ``Authorization: Bearer <api key>`` and JSON
``{to, text, idempotency_key, callback_url}`` → ``{"message_id": …}``. The gateway later posts a
delivery receipt ``{message_id, status: delivered|failed}`` to ``callback_url``
(``/api/v1/receipts/sms``). Concrete gateways (Alibaba, Tencent) sit behind this shape.
"""

from __future__ import annotations

from router.errors import PermanentDeliveryError
from router.handlers.base import HttpTransport, Outbound, SendResult, json_body, post


class SmsHandler:
    kind = "sms"

    def __init__(self, transport: HttpTransport, base_url: str, api_key: str) -> None:
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    async def send(self, notification: Outbound) -> SendResult:
        response = await post(
            self.transport,
            "sms gateway",
            f"{self.base_url}/sms/send",
            json={
                "to": notification.contact["to"],
                "text": notification.text,
                "idempotency_key": notification.id,
                "callback_url": notification.callback_url,
            },
            headers={"authorization": f"Bearer {self.api_key}"},
        )
        message_id = json_body(response, "sms gateway").get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise PermanentDeliveryError("sms gateway: no message_id in the response")
        return SendResult(provider_id=message_id)
