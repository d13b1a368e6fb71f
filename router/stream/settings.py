"""Kafka settings: where the brokers are, how to authenticate (SASL, TLS), what the topics are called.

Every value comes from a ``WARNROUTE_KAFKA_*`` variable (or ``serve --kafka BOOTSTRAP``). The SASL
password is read from ``WARNROUTE_KAFKA_SASL_PASSWORD`` or from the file ``…_PASSWORD_FILE`` names,
and never printed (``repr`` leaves it out; errors name the variable, not the value).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.errors import ConfigError, ConfigProblem

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    group: str = "warnroute"
    ingest_topic: str = "warnroute.warnings"
    dead_letter_topic: str = "warnroute.warnings.dead"
    ack_topic: str = "warnroute.acks"
    report_topic: str = "warnroute.reports"  # situation reports (DESIGN §13); refused ones to the dead letters
    action_prefix: str = "warnroute.actions."  # + department id
    partitions: int = 6
    replication: int = 1
    batch: int = 500  # records taken per poll; each batch is committed once it is durable
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    def action_topic(self, department: str) -> str:
        return self.action_prefix + department

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments every aiokafka client here takes: bootstrap servers and security."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password,
            }
        if self.security_protocol.endswith("SSL"):
            context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
            if self.ssl_certfile is not None:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            options["ssl_context"] = context
        return options

    @classmethod
    def from_env(cls, env: Mapping[str, str], bootstrap: str | None = None) -> KafkaSettings | None:
        """The settings the environment describes, or None when no bootstrap server is named."""
        servers = bootstrap or env.get("WARNROUTE_KAFKA_BOOTSTRAP")
        if not servers:
            return None
        problems: list[ConfigProblem] = []

        def bad(name: str, problem: str) -> None:
            problems.append(ConfigProblem("environment", name, problem))

        values: dict[str, Any] = {"bootstrap": servers}
        for name, key in (
            ("GROUP", "group"),
            ("INGEST_TOPIC", "ingest_topic"),
            ("DEAD_LETTER_TOPIC", "dead_letter_topic"),
            ("ACK_TOPIC", "ack_topic"),
            ("REPORT_TOPIC", "report_topic"),
            ("ACTION_PREFIX", "action_prefix"),
            ("SASL_USERNAME", "sasl_username"),
        ):
            if env.get("WARNROUTE_KAFKA_" + name):
                values[key] = env["WARNROUTE_KAFKA_" + name]
        for name, key in (("PARTITIONS", "partitions"), ("REPLICATION", "replication"), ("BATCH", "batch")):
            raw = env.get("WARNROUTE_KAFKA_" + name)
            if raw:
                if raw.isdigit() and int(raw) > 0:
                    values[key] = int(raw)
                else:
                    bad("WARNROUTE_KAFKA_" + name, f"must be a positive whole number, not {raw!r}")
        protocol = env.get("WARNROUTE_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
        if protocol not in PROTOCOLS:
            bad("WARNROUTE_KAFKA_SECURITY_PROTOCOL", f"must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        values["security_protocol"] = protocol
        if protocol.startswith("SASL"):
            mechanism = env.get("WARNROUTE_KAFKA_SASL_MECHANISM", "PLAIN").upper()
            if mechanism not in MECHANISMS:
                bad("WARNROUTE_KAFKA_SASL_MECHANISM", f"must be one of {', '.join(MECHANISMS)}, not {mechanism!r}")
            values["sasl_mechanism"] = mechanism
            if not values.get("sasl_username"):
                bad("WARNROUTE_KAFKA_SASL_USERNAME", f"is required with {protocol}")
            values["sasl_password"] = _password(env, bad, protocol)
            if protocol == "SASL_PLAINTEXT":
                bad(
                    "WARNROUTE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT would send the password in clear; use SASL_SSL"
                )
        for name, key in (
            ("SSL_CAFILE", "ssl_cafile"),
            ("SSL_CERTFILE", "ssl_certfile"),
            ("SSL_KEYFILE", "ssl_keyfile"),
        ):
            raw = env.get("WARNROUTE_KAFKA_" + name)
            if raw:
                if not Path(raw).is_file():
                    bad("WARNROUTE_KAFKA_" + name, f"no such file: {raw}")
                values[key] = Path(raw)
        if problems:
            raise ConfigError(problems)
        return cls(**values)


def _password(env: Mapping[str, str], bad: Any, protocol: str) -> str | None:
    if env.get("WARNROUTE_KAFKA_SASL_PASSWORD"):
        return env["WARNROUTE_KAFKA_SASL_PASSWORD"]
    path = env.get("WARNROUTE_KAFKA_SASL_PASSWORD_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            bad("WARNROUTE_KAFKA_SASL_PASSWORD_FILE", f"cannot be read ({exc.strerror})")
            return None
    bad("WARNROUTE_KAFKA_SASL_PASSWORD", f"(or …_PASSWORD_FILE) is required with {protocol}")
    return None
