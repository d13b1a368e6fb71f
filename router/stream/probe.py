"""Why the brokers could not be reached: each bootstrap server tried on its own, its refusal in words.

aiokafka's clients say only "Unable to bootstrap" when every server fails; an operator needs to know
whether the address is wrong, TLS failed or the broker refused the SASL credentials. The password is
never part of an answer (the user name is).
"""

from __future__ import annotations

import asyncio
import os
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed

from router.stream.settings import KafkaSettings


class KafkaUnavailable(RuntimeError):
    """Kafka mode cannot start; the message says which broker and why."""


async def why_unreachable(settings: KafkaSettings, timeout: float = 10.0) -> str:
    """One sentence per bootstrap server that failed, joined with "; " (empty if one answers now)."""
    options = settings.client_options()
    reasons: list[str] = []
    for server in settings.bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(
                    host,
                    int(port),
                    request_timeout_ms=int(timeout * 1000),
                    ssl_context=options.get("ssl_context"),
                    security_protocol=settings.security_protocol,
                    sasl_mechanism=settings.sasl_mechanism or "PLAIN",
                    sasl_plain_username=settings.sasl_username,
                    sasl_plain_password=settings.sasl_password,
                ),
                timeout,
            )
        except SaslAuthenticationFailed:
            reasons.append(
                f"the broker at {server} refused the {settings.sasl_mechanism} credentials of user "
                f"{settings.sasl_username!r}: SASL authentication failed (check WARNROUTE_KAFKA_SASL_USERNAME "
                "and the password)"
            )
        except ssl.SSLError as exc:
            reasons.append(f"TLS with the broker at {server} failed: {exc.reason or type(exc).__name__}")
        except TimeoutError:
            reasons.append(f"the broker at {server} did not answer within {timeout:g} s")
        except OSError as exc:
            said = os.strerror(exc.errno) if exc.errno else type(exc).__name__  # "Connection refused"
            reasons.append(f"cannot connect to {server}: {said}")
        except KafkaError as exc:
            reasons.append(f"the broker at {server} refused the connection: {type(exc).__name__}")
        else:
            conn.close()
    return "; ".join(reasons)
