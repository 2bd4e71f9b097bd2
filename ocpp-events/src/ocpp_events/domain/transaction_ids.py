"""Transaction ids for OCPP 1.6 StartTransaction (see ocpp-events/README.md, "Transaction ids").

id = whole seconds since EPOCH, kept strictly increasing per station inside one process:
`max(now_seconds, last_id + 1)`. Unique per station across restarts (time moves on) and across
replicas (a station is connected to one replica at a time), with no call to another service.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ocpp_events.domain.ports import Clock

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
MAX_ID = 2**31 - 1


class TransactionIdAllocator:
    def __init__(self, clock: Clock, started_at: datetime | None = None) -> None:
        self._clock = clock
        self._last: dict[str, int] = {}
        # Never hand out an id of the second this process started in: the previous process
        # (restart) may have used it for the same station just before it stopped.
        start = started_at or clock.now()
        self._floor = self._seconds(start) + 1

    def next_id(self, station_id: str) -> int:
        now = self._seconds(self._clock.now())
        last = self._last.get(station_id, self._floor - 1)
        transaction_id = max(now, last + 1)
        if transaction_id > MAX_ID:
            raise OverflowError("transaction id space exhausted (year 2093)")
        self._last[station_id] = transaction_id
        return transaction_id

    @staticmethod
    def _seconds(moment: datetime) -> int:
        return int((moment - EPOCH).total_seconds())
