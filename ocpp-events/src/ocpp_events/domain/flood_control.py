"""Per-connection flood control: a token bucket, and closing a station that keeps flooding.

A charger sends one call at a time and waits for the answer (OCPP-J), so a real one stays far
below the default 200 calls/s with bursts of 1,000 (a reconnect replaying its offline queue is
paced by our answers, and the burst absorbs a day of queued meter values). A station above the
limit gets a CallError for the calls over it, which costs no validation and no broker publish;
one that keeps going — `close_after` rejected calls within `window` seconds — is disconnected.
Times are monotonic seconds given by the caller.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass


class Admission(enum.Enum):
    ADMIT = "admit"
    REJECT = "reject"  # answer a CallError, publish nothing
    CLOSE = "close"  # close the connection (policy violation)


@dataclass(frozen=True)
class FloodPolicy:
    calls_per_second: float  # sustained rate; 0 turns flood control off
    burst: int  # calls admitted at once after a quiet period
    close_after: int  # rejected calls within `window` that close the connection; 0 = never
    window: float  # seconds

    @property
    def enabled(self) -> bool:
        return self.calls_per_second > 0


class TokenBucket:
    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self._rate = rate
        self._capacity = float(capacity)
        self._tokens = float(capacity)
        self._updated = now

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class FloodGuard:
    """One per connection: decides whether each incoming call is handled."""

    def __init__(self, policy: FloodPolicy, now: float) -> None:
        self.policy = policy
        self._bucket = TokenBucket(policy.calls_per_second, policy.burst, now)
        # made at the first rejection: a deque costs ~0.7 KiB, and most stations never flood
        self._rejections: deque[float] | None = None
        self.rejected_in_a_row = 0

    def admit(self, now: float) -> Admission:
        if not self.policy.enabled or self._bucket.take(now):
            self.rejected_in_a_row = 0
            return Admission.ADMIT
        self.rejected_in_a_row += 1
        if self.policy.close_after <= 0:
            return Admission.REJECT
        if self._rejections is None:
            self._rejections = deque(maxlen=self.policy.close_after)
        self._rejections.append(now)
        if (len(self._rejections) == self.policy.close_after
                and now - self._rejections[0] <= self.policy.window):
            return Admission.CLOSE
        return Admission.REJECT
