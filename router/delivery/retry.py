"""The retry policy, pure: attempt number → delay, with a cap, jitter and a give-up rule.

Retrying belongs here and in the dispatcher, never in channel handlers.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    max_attempts: int = 8
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` ≥ 1 attempts made): full-range
        exponential backoff with "equal jitter", so retries of a burst spread out but never bunch at 0."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return float(ceiling / 2 + self.rand() * ceiling / 2)

    def gives_up(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
