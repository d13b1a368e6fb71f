"""Process settings: command-line values first, then WARNROUTE_* environment variables, then defaults.

Secrets (gateway API keys) come only from the environment and are never printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from router.stream.settings import KafkaSettings


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    config_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    sms_url: str | None = None
    sms_api_key: str | None = field(default=None, repr=False)
    voice_url: str | None = None
    voice_api_key: str | None = field(default=None, repr=False)
    smtp: Mapping[str, str] | None = field(default=None, repr=False)
    receipt_token: str | None = field(default=None, repr=False)
    ack_key: str | None = field(default=None, repr=False)  # signs one-click acknowledgement links
    inbound_token: str | None = field(default=None, repr=False)  # the SMS gateway's inbound (reply) webhook
    scheduler_poll: float = 1.0
    auth: str = "on"  # "dev": no tokens, every caller is admin (for the demo and local work only)
    max_backlog: int = 2000  # ingest answers 503 + Retry-After beyond this many writes waiting
    xml_signing_cert: Path | None = None  # require XML-DSig by this certificate on XML messages
    tls_cert: Path | None = None
    tls_key: Path | None = None
    canary_every: float = 0.0  # seconds between canaries; 0: no canary
    canary_timeout: float = 300.0  # a canary not back within this is missing
    json_logs: bool | None = None
    poll_seconds: float = 0.5
    call_timeout: float = 10.0
    lease_seconds: float = 60.0  # a claimed notification not recorded by then is due again (a dead instance's)
    dispatch: bool = True  # False: accept and record only (another process works the outbox)
    database_url: str | None = field(default=None, repr=False)  # PostgreSQL (shared); else SQLite in data_dir
    kafka: KafkaSettings | None = None  # Kafka mode: ingest, action and acknowledgement topics

    @property
    def callback_base(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = environ if environ is not None else os.environ
        bootstrap = overrides.pop("kafka_bootstrap", None)
        smtp = None
        if env.get("WARNROUTE_SMTP_HOST"):
            smtp = {
                k: v
                for k, v in {
                    "host": env.get("WARNROUTE_SMTP_HOST", ""),
                    "port": env.get("WARNROUTE_SMTP_PORT", "25"),
                    "from": env.get("WARNROUTE_SMTP_FROM", "warnroute@localhost"),
                    "username": env.get("WARNROUTE_SMTP_USERNAME", ""),
                    "password": env.get("WARNROUTE_SMTP_PASSWORD", ""),
                }.items()
                if v
            }
        values: dict[str, object] = {
            "data_dir": Path(env.get("WARNROUTE_DATA_DIR", "data")),
            "public_url": env.get("WARNROUTE_PUBLIC_URL"),
            "sms_url": env.get("WARNROUTE_SMS_URL"),
            "sms_api_key": env.get("WARNROUTE_SMS_API_KEY"),
            "voice_url": env.get("WARNROUTE_VOICE_URL"),
            "voice_api_key": env.get("WARNROUTE_VOICE_API_KEY"),
            "smtp": smtp,
            "receipt_token": env.get("WARNROUTE_RECEIPT_TOKEN"),
            "ack_key": env.get("WARNROUTE_ACK_KEY"),
            "inbound_token": env.get("WARNROUTE_INBOUND_TOKEN"),
            "auth": env.get("WARNROUTE_AUTH", "on").lower(),
            "database_url": env.get("WARNROUTE_DATABASE_URL"),
            "kafka": KafkaSettings.from_env(env, bootstrap if isinstance(bootstrap, str) else None),
        }
        if env.get("WARNROUTE_MAX_BACKLOG"):
            values["max_backlog"] = int(env["WARNROUTE_MAX_BACKLOG"])
        for name, key in (
            ("WARNROUTE_TLS_CERT", "tls_cert"),
            ("WARNROUTE_TLS_KEY", "tls_key"),
            ("WARNROUTE_XML_SIGNING_CERT", "xml_signing_cert"),
        ):
            if env.get(name):
                values[key] = Path(env[name])
        for name, key in (
            ("WARNROUTE_SCHEDULER_POLL", "scheduler_poll"),
            ("WARNROUTE_CANARY_EVERY", "canary_every"),
            ("WARNROUTE_CANARY_TIMEOUT", "canary_timeout"),
        ):
            if env.get(name):
                values[key] = float(env[name])
        if env.get("WARNROUTE_CALL_TIMEOUT"):
            values["call_timeout"] = float(env["WARNROUTE_CALL_TIMEOUT"])
        if env.get("WARNROUTE_LEASE_SECONDS"):
            values["lease_seconds"] = float(env["WARNROUTE_LEASE_SECONDS"])
        if env.get("WARNROUTE_DISPATCH", "").lower() in ("0", "false", "off", "no"):
            values["dispatch"] = False
        if env.get("WARNROUTE_CONFIG"):
            values["config_dir"] = Path(env["WARNROUTE_CONFIG"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
