"""Voice calls through a generic HTTP gateway adapter, with keypress confirmation.

``POST {base}/voice/call`` with ``Authorization: Bearer <api key>`` and JSON
``{to, text, idempotency_key, callback_url, confirm_key}`` → ``{"call_id": …}``. The gateway posts
``{call_id, status: answered|no_answer|failed, keypress}`` to ``callback_url``
(``/api/v1/receipts/voice``): answered is a delivery; the confirm key pressed is a person confirming.
"""

from __future__ import annotations

from router.errors import PermanentDeliveryError
from router.handlers.base import HttpTransport, Outbound, SendResult, json_body, post

CONFIRM_KEY = "1"


class VoiceHandler:
    kind = "voice"

    def __init__(self, transport: HttpTransport, base_url: str, api_key: str) -> None:
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    async def send(self, notification: Outbound) -> SendResult:
        response = await post(
            self.transport,
            "voice gateway",
            f"{self.base_url}/voice/call",
            json={
                "to": notification.contact["to"],
                "text": notification.text,
                "idempotency_key": notification.id,
                "callback_url": notification.callback_url,
                "confirm_key": CONFIRM_KEY,
            },
            headers={"authorization": f"Bearer {self.api_key}"},
        )
        call_id = json_body(response, "voice gateway").get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise PermanentDeliveryError("voice gateway: no call_id in the response")
        return SendResult(provider_id=call_id)
