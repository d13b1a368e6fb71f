"""E-mail over SMTP (aiosmtplib). SMTP acceptance is "sent"; e-mail has no delivery receipt."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from router.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from router.handlers.base import Outbound, SendResult


class EmailHandler:
    kind = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.timeout = username, password, timeout

    async def send(self, notification: Outbound) -> SendResult:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = notification.contact["to"]
        message["Subject"] = notification.title
        message["Message-ID"] = f"<{notification.id}@warnroute>"
        message["X-Warnroute-Idempotency-Key"] = notification.id
        if notification.carries:
            message["X-Warnroute-Carries"] = ",".join(notification.carries)
        message.set_content(notification.text)
        # Errors are raised outside the except blocks: the server's text may name the recipient.
        failure: DeliveryError | None = None
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                timeout=self.timeout,
                start_tls=False,
            )
        except aiosmtplib.SMTPRecipientsRefused:
            failure = PermanentDeliveryError("smtp: recipient refused")
        except aiosmtplib.SMTPResponseException as exc:
            kind = RetryableDeliveryError if 400 <= exc.code < 500 else PermanentDeliveryError
            failure = kind(f"smtp: {exc.code}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            failure = RetryableDeliveryError(f"smtp: {type(exc).__name__}")
        if failure is not None:
            raise failure
        return SendResult(provider_id=notification.id)
