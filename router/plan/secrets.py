"""Resolving contact and secret references ({env: NAME} / {file: PATH}) at the moment of use.

Values are never logged or put in error text: errors name the reference. ``redact`` removes every
value resolved so far from a string, as a last line of defence for text that leaves the process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from router.errors import PermanentDeliveryError
from router.plan.schema import SecretRef


class SecretResolver:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else os.environ
        self._seen: set[str] = set()

    def resolve(self, ref: SecretRef) -> str:
        if ref.env is not None:
            value = self._environ.get(ref.env)
            if not value:
                raise PermanentDeliveryError(f"contact {ref.describe()} is not set")
        else:
            assert ref.file is not None
            try:
                value = Path(ref.file).read_text(encoding="utf-8").strip()
            except OSError:
                raise PermanentDeliveryError(f"contact {ref.describe()} cannot be read") from None
            if not value:
                raise PermanentDeliveryError(f"contact {ref.describe()} is empty")
        if len(value) >= 4:
            self._seen.add(value)
        return value

    def resolve_all(self, refs: Mapping[str, SecretRef]) -> dict[str, str]:
        return {name: self.resolve(ref) for name, ref in refs.items()}

    def register(self, value: str) -> None:
        """A secret that did not come through ``resolve`` (a process setting) to redact all the same."""
        if len(value) >= 4:
            self._seen.add(value)

    def redact(self, text: str) -> str:
        for value in self._seen:
            if value in text:
                text = text.replace(value, "***")
        return text
