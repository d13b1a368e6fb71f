"""The exception tree of warnroute.

    WarnrouteError                 every error the project raises on purpose
    ├── ConfigError                the YAML configuration is invalid; carries every problem found,
    │                              each naming file, path and problem (start-up stops)
    ├── DeliveryError              a channel could not deliver a notification; never names a secret
    │   ├── RetryableDeliveryError timeouts, 5xx, provider "busy" codes: try again later
    │   │   └── RateLimited        429, Retry-After, a provider's rate or quota code: wait for the window
    │   └── PermanentDeliveryError other 4xx, bad contact, provider config errors: retrying will not help
    ├── InvalidMessage             an inbound message is rejected; names the field and the problem
    │   ├── MalformedMessage       not well-formed XML/JSON, forbidden DTD/entity, too large or too deep
    │   │   └── TooLarge           over the byte limit (HTTP 413)
    │   ├── UnknownSchema          well-formed, but not CAP 1.2, the national XML or warnroute JSON
    │   ├── UnroutableWarning      parsed, but cannot be routed as it stands (hazard × colour that does
    │   │                          not exist nationally, an area outside the configured jurisdictions,
    │   │                          a status or message type that is not routed)
    │   └── UnsignedMessage        XML signatures are required and this one is missing or wrong
    ├── StoreUnavailable           the store cannot take a write now (its disk is short, the database is
    │                              unreachable); nothing was accepted, the sender should try again (HTTP 503)
    └── Refused                    a request a service will not carry out; names the field and the problem
        ├── NotFound               what it names does not exist (HTTP 404)
        ├── Forbidden              this caller may not (HTTP 403; counted and audited as a denial)
        ├── InvalidRequest         the request itself is wrong (HTTP 422)
        └── Conflict               it cannot be done in the state things are in (HTTP 409)

Messages never include secret values: configuration errors name the reference (env var or file),
not what it resolves to.
"""

from __future__ import annotations

from dataclasses import dataclass


class WarnrouteError(Exception):
    """Base of every error warnroute raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in one configuration file, at one path inside it."""

    file: str
    path: str
    problem: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path or '<root>'}: {self.problem}"


class ConfigError(WarnrouteError):
    """The configuration is invalid; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreUnavailable(WarnrouteError):
    """The store cannot write now; ``problem`` says why in words (never a connection string or a secret).
    ``undone``: nothing of the write was kept (False: it may have been, as when a writer died mid-way)."""

    undone = True

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


class InvalidMessage(WarnrouteError):
    """An inbound message is rejected; ``field`` names where, ``problem`` says what is wrong."""

    kind = "invalid"

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class MalformedMessage(InvalidMessage):
    """Not well-formed, forbidden XML constructs (DTD, entities), or over a size/depth/count limit."""

    kind = "malformed"


class TooLarge(MalformedMessage):
    """Over the byte limit of one message."""


class UnknownSchema(InvalidMessage):
    """Well-formed, but in none of the accepted formats."""

    kind = "unknown_schema"


class UnroutableWarning(InvalidMessage):
    """Parsed, but not routable as it stands (impossible colour, area outside the jurisdictions, …)."""

    kind = "unroutable"


class UnsignedMessage(InvalidMessage):
    """XML signatures are required (a bureau certificate is configured) and this one is missing or wrong."""

    kind = "bad_signature"


class Refused(WarnrouteError):
    """A service will not do what it was asked; ``kind`` is the answer's ``error`` word."""

    kind = "refused"

    def __init__(self, field: str, problem: str, kind: str | None = None) -> None:
        self.field = field
        self.problem = problem
        if kind is not None:
            self.kind = kind
        super().__init__(f"{field}: {problem}")


class NotFound(Refused):
    kind = "not_found"


class Forbidden(Refused):
    kind = "forbidden"


class InvalidRequest(Refused):
    kind = "invalid"


class Conflict(Refused):
    kind = "conflict"


class DeliveryError(WarnrouteError):
    """A channel handler could not deliver; ``retryable`` says whether trying again may help."""

    retryable = False


class RetryableDeliveryError(DeliveryError):
    retryable = True


class PermanentDeliveryError(DeliveryError):
    retryable = False


class RateLimited(RetryableDeliveryError):
    """The provider refused for its rate or its quota: wait ``wait`` seconds for its window (``window``
    names it: "Retry-After", "20 per minute", "the day"), never an immediate retry and never a failed
    attempt. A window that reopens after the obligation's deadline moves its ladder to the next channel."""

    def __init__(self, message: str, wait: float, window: str) -> None:
        self.wait, self.window = wait, window
        super().__init__(message)
