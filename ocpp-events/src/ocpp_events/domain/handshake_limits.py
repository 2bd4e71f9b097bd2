"""Failed-handshake limits: a source that keeps failing is refused without any check.

Each key (a remote address, or a station id) may fail `limit` times within `window` seconds;
after that it is blocked until its oldest counted failure leaves the window. A failure while
blocked is counted too, so a source that keeps hammering stays blocked (the delay grows with
the attack). Keys are kept in insertion order and the oldest are dropped beyond `max_keys`, so
a flood of random ids cannot grow memory without bound. Times are monotonic seconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class HandshakeLimit:
    limit: int  # failures within `window`; 0 turns the limit off
    window: float  # seconds

    @property
    def enabled(self) -> bool:
        return self.limit > 0


class FailedHandshakes:
    def __init__(self, policy: HandshakeLimit, max_keys: int = 100_000) -> None:
        self.policy = policy
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until `key` may try again, or None when it is not blocked."""
        failures = self._failures.get(key)
        if failures is None or len(failures) < self.policy.limit:
            return None
        remaining = failures[0] + self.policy.window - now
        return remaining if remaining > 0 else None

    def record_failure(self, key: str, now: float) -> None:
        if not self.policy.enabled:
            return
        failures = self._failures.pop(key, None)
        if failures is None:
            failures = deque(maxlen=self.policy.limit)
            if len(self._failures) >= self._max_keys:
                del self._failures[next(iter(self._failures))]
        failures.append(now)
        self._failures[key] = failures  # re-inserted: most recently failed last

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)
