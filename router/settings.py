"""Process settings: command-line values first, then WARNROUTE_* environment variables, then defaults.

Read by pydantic-settings: every field is ``WARNROUTE_<FIELD>`` (``WARNROUTE_CONFIG`` for ``config_dir``),
and a value that does not parse stops start-up with a :class:`router.errors.ConfigError` naming the
variable and the problem (never the value: some are secrets). Empty variables count as unset. Secrets
(gateway API keys, tokens, the SMTP password) are never printed (``repr`` leaves them out). Kafka's
settings (``WARNROUTE_KAFKA_*``) are read by :mod:`router.stream.settings`, which names its variables
the same way. The variables:

    WARNROUTE_DATA_DIR  WARNROUTE_CONFIG  WARNROUTE_HOST  WARNROUTE_PORT  WARNROUTE_PUBLIC_URL (callback base)
    WARNROUTE_SMS_URL  WARNROUTE_SMS_API_KEY  WARNROUTE_VOICE_URL  WARNROUTE_VOICE_API_KEY
    WARNROUTE_SMTP_HOST  WARNROUTE_SMTP_PORT  WARNROUTE_SMTP_FROM  WARNROUTE_SMTP_USERNAME  WARNROUTE_SMTP_PASSWORD
    WARNROUTE_RECEIPT_TOKEN  WARNROUTE_ACK_KEY  WARNROUTE_INBOUND_TOKEN  WARNROUTE_AUTH (on | dev)
    WARNROUTE_SCHEDULER_POLL  WARNROUTE_POLL_SECONDS  WARNROUTE_MAX_BACKLOG  WARNROUTE_XML_SIGNING_CERT
    WARNROUTE_TLS_CERT  WARNROUTE_TLS_KEY  WARNROUTE_CANARY_EVERY  WARNROUTE_CANARY_TIMEOUT  WARNROUTE_JSON_LOGS
    WARNROUTE_CALL_TIMEOUT  WARNROUTE_LEASE_SECONDS  WARNROUTE_DISPATCH (0: accept only)  WARNROUTE_DATABASE_URL
    WARNROUTE_PROVIDER_BUDGETS (default 1; 0: warnroute does not count the providers' per-destination limits
    of departments.yaml ``provider_limits``, for numbers allow-listed with the provider; over-limit answers
    are still waited out)
    WARNROUTE_DISK_RESERVE_MB (default 64: below this much free space on the SQLite store's disk, new
    warnings are answered 503 and the rest is kept for recording what was already accepted)
    WARNROUTE_SENT_MAX_AGE (s, default 7 days)  WARNROUTE_SENT_MAX_AHEAD (s, default 1 hour): the accepted
    window of a message's ``sent`` around its receipt; outside it the message is refused naming the bound
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import Field, InstanceOf, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from router.errors import ConfigError, ConfigProblem
from router.stream.settings import KafkaSettings

PREFIX = "WARNROUTE_"
ALIASES = {"config_dir": "WARNROUTE_CONFIG"}
SMTP_PARTS = (("host", "smtp_host"), ("port", "smtp_port"), ("from", "smtp_from"))
SMTP_SECRETS = (("username", "smtp_username"), ("password", "smtp_password"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_ignore_empty=True, frozen=True, extra="ignore", populate_by_name=True
    )

    data_dir: Path = Path("data")
    config_dir: Path | None = Field(None, validation_alias=ALIASES["config_dir"])
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    sms_url: str | None = None
    sms_api_key: str | None = Field(None, repr=False)
    voice_url: str | None = None
    voice_api_key: str | None = Field(None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "warnroute@localhost"
    smtp_username: str | None = Field(None, repr=False)
    smtp_password: str | None = Field(None, repr=False)
    smtp: Mapping[str, str] | None = Field(None, repr=False)  # host, port, from, username, password (from smtp_*)
    receipt_token: str | None = Field(None, repr=False)
    ack_key: str | None = Field(None, repr=False)  # signs one-click acknowledgement links
    inbound_token: str | None = Field(None, repr=False)  # the SMS gateway's inbound (reply) webhook
    scheduler_poll: float = Field(1.0, gt=0)
    auth: str = "on"  # "dev": no tokens, every caller is admin (for the demo and local work only)
    max_backlog: int = 2000  # ingest answers 503 + Retry-After beyond this many writes waiting (negative: always)
    provider_budgets: bool = True  # False: send without counting the providers' limits (allow-listed numbers)
    disk_reserve_mb: int = Field(64, ge=0)  # SQLite: new warnings refused (503) while the disk has less free
    xml_signing_cert: Path | None = None  # require XML-DSig by this certificate on XML messages
    tls_cert: Path | None = None
    tls_key: Path | None = None
    canary_every: float = Field(0.0, ge=0)  # seconds between canaries; 0: no canary
    canary_timeout: float = Field(300.0, gt=0)  # a canary not back within this is missing
    json_logs: bool | None = None
    poll_seconds: float = Field(0.5, gt=0)
    call_timeout: float = Field(10.0, gt=0)
    lease_seconds: float = Field(60.0, gt=0)  # a claimed notification not recorded by then is due again
    dispatch: bool = True  # False: accept and record only (another process works the outbox)
    sent_max_age: float = Field(7 * 86400.0, gt=0)  # a message sent longer ago than this (s) is refused
    sent_max_ahead: float = Field(3600.0, ge=0)  # …and one dated further ahead of its receipt than this
    database_url: str | None = Field(None, repr=False)  # PostgreSQL (shared); else SQLite in data_dir
    kafka: InstanceOf[KafkaSettings] | None = None  # Kafka mode: ingest, action and acknowledgement topics

    @field_validator("auth", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _smtp(self) -> Settings:
        if self.smtp is None and self.smtp_host:
            parts = {key: str(getattr(self, name)) for key, name in SMTP_PARTS}
            parts |= {key: str(getattr(self, name)) for key, name in SMTP_SECRETS if getattr(self, name)}
            object.__setattr__(self, "smtp", parts)
        return self

    @property
    def callback_base(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - replaced by the one over a given mapping
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no .env files: the environment only
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - secrets are references, not files here
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Environment(settings_cls, _ENVIRON.get())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``environ`` (default: the process environment), with ``overrides`` (command-line
        values; None means not given) on top. Raises ConfigError naming each variable that is wrong."""
        env = environ if environ is not None else os.environ
        bootstrap = overrides.pop("kafka_bootstrap", None)
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        kafka = KafkaSettings.from_env(env, bootstrap if isinstance(bootstrap, str) else None)
        reading = _ENVIRON.set(env)
        try:
            return cls(**given, kafka=kafka)
        except ValidationError as exc:
            raise ConfigError(
                [ConfigProblem("environment", _variable(e["loc"], given), e["msg"]) for e in exc.errors()]
            ) from None
        finally:
            _ENVIRON.reset(reading)


_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("environ", default=None)  # what ``from_env`` reads


class _Environment(EnvSettingsSource):
    """The environment source over a given mapping (the process environment unless ``from_env`` names one)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self._environ is None:
            return super()._load_env_vars()
        found: Mapping[str, str | None] = parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )
        return found


def _variable(loc: tuple[int | str, ...], given: Mapping[str, object]) -> str:
    """Where a bad value came from: the command-line option, or its environment variable."""
    field = str(loc[0]) if loc else ""
    if field in given:
        return f"--{field.replace('_', '-')}"
    return ALIASES.get(field, PREFIX + field.upper())
