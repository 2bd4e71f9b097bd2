"""Transaction ids for OCPP 1.6 StartTransaction (see ocpp-events/README.md, "Transaction ids").

id = whole seconds since EPOCH (2025-01-01 UTC), strictly increasing per station:
`max(now_seconds, last_id + 1)`, where a new connection of the station starts from
`connect_second + 1`. An id is answered only once the clock has reached its second
(`usable_from`), so no answered id is ever ahead of the clock. No state is shared between
processes and no other service is called.

Why it is unique per station: every id a connection answered is <= the second it was answered
in. The station's next connection (after a gateway restart, or on another replica) begins
later, in second C', and hands out ids >= C' + 1. Limits: replicas' clocks must agree within
a second (NTP); bursts are paced to one StartTransaction answer per second per station;
range is positive 32-bit until 2093.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ocpp_events.domain.ports import Clock

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class TransactionId:
    value: int

    @property
    def usable_from(self) -> datetime:
        """Do not answer the id before this moment (the start of its second)."""
        return EPOCH + timedelta(seconds=self.value)


class TransactionIdAllocator:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last: dict[str, int] = {}

    def connected(self, station_id: str) -> None:
        """A new connection of the station: its ids start after the current second."""
        now = self._seconds(self._clock.now())
        self._last[station_id] = max(self._last.get(station_id, 0), now)

    def next_id(self, station_id: str) -> TransactionId:
        now = self._seconds(self._clock.now())
        last = self._last.get(station_id)
        if last is None:  # no connected() seen: same rule as a new connection
            last = now
        value = max(now, last + 1)
        if value > MAX_ID:
            raise OverflowError("transaction id space exhausted (year 2093)")
        self._last[station_id] = value
        return TransactionId(value)

    @staticmethod
    def _seconds(moment: datetime) -> int:
        return int((moment - EPOCH).total_seconds())
