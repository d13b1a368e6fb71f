"""Issuing API tokens: checked against the configuration, stored as a digest, shown once."""

from __future__ import annotations

import re
import time

from router.access.roles import ROLES, Principal, new_token
from router.plan.config import RoutingConfig
from router.store import SqlStore

_KEY_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:\S+)$")


SIGNERS = ("publisher", "department", "duty_office")  # warnings; situation reports (over HTTP or Kafka)


def check(
    config: RoutingConfig,
    role: str,
    jurisdiction: str | None,
    department: str | None,
    signing_key: str | None,
) -> None:
    """Raise ValueError naming what is wrong with a principal's role, scope or signing key reference."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "department":
        if jurisdiction is None or jurisdiction not in config.jurisdictions:
            raise ValueError(f"a department token needs a known jurisdiction, not {jurisdiction!r}")
        if department is None or department not in config.departments:
            raise ValueError(f"a department token needs a known department, not {department!r}")
        if not config.has_department(jurisdiction, department):
            raise ValueError(f"no department {department!r} in jurisdiction {jurisdiction}")
    elif jurisdiction or department:
        raise ValueError(f"only department tokens are scoped to a jurisdiction and department, not {role}")
    if signing_key is not None:
        if role not in SIGNERS:
            raise ValueError("only publishers and the offices that file reports (department, duty_office) sign")
        if not _KEY_REF.match(signing_key):
            raise ValueError("the signing key is a reference, env:NAME or file:PATH, never the key itself")


async def issue_token(
    store: SqlStore,
    config: RoutingConfig,
    name: str,
    role: str,
    jurisdiction: str | None = None,
    department: str | None = None,
    signing_key: str | None = None,
) -> tuple[Principal, str]:
    check(config, role, jurisdiction, department, signing_key)
    token_id, token, secret_digest = new_token()
    principal = Principal(token_id, name, role, jurisdiction, department, signing_key)
    await store.add_principal(principal, secret_digest, time.time())
    return principal, token
