"""The generic HTTP gateway adapter that SMS and voice share.

``POST {base}{path}`` with ``Authorization: Bearer <api key>`` and JSON
``{to, text, idempotency_key, callback_url, …}`` → ``{<id_field>: …}``. The gateway later posts a
receipt to ``callback_url``. Concrete gateways (Alibaba, Tencent) sit behind this shape.
"""

from __future__ import annotations

from typing import Any, ClassVar

from router.errors import PermanentDeliveryError
from router.handlers.base import HttpTransport, Outbound, SendResult, json_body, post


class GatewayHandler:
    kind: str
    path: ClassVar[str]
    id_field: ClassVar[str]
    extra: ClassVar[dict[str, Any]] = {}  # fields this kind of gateway needs beyond the common ones

    def __init__(self, transport: HttpTransport, base_url: str, api_key: str) -> None:
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    async def send(self, notification: Outbound) -> SendResult:
        what = f"{self.kind} gateway"
        reply = await post(
            self.transport,
            what,
            f"{self.base_url}{self.path}",
            json={
                "to": notification.contact["to"],
                "text": notification.text,
                "idempotency_key": notification.id,
                "callback_url": notification.callback_url,
                **self.extra,
            },
            headers={"authorization": f"Bearer {self.api_key}"},
        )
        provider_id = json_body(reply, what).get(self.id_field)
        if not isinstance(provider_id, str) or not provider_id:
            raise PermanentDeliveryError(f"{what}: no {self.id_field} in the response")
        return SendResult(provider_id=provider_id)
