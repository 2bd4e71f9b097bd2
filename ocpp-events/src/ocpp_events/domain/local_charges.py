"""Charges this gateway saw start or stop that save-server's copy may not show yet.

save-server's `active-charges` events say which charges of a tag run, as of their revision;
the starts this gateway accepted since then and the stops it saw are added and subtracted, so
a second start on the same gateway is refused at once, not only after save-server caught up.
A local start is forgotten once save-server lists it (save-server then tracks it) or, when
save-server keeps not listing it, after `STALE_AFTER` (it was stopped elsewhere, or its
StartTransaction never reached save-server; it stops counting then even if no newer view of
the tag arrives); a local stop once save-server no longer lists it. A stop of a charge that
nothing counts yet (no local start, not listed: an unknown tag, a transaction save-server
never had) subtracts something only if save-server lists that charge later, which it does
within moments or never; at most `MAX_PENDING_STOPS` of them are kept, the oldest dropped
first, so a station sending stops of unknown tags cannot grow the gateway's memory.
Kept in memory only: after a restart save-server's copy (from the file and the snapshot) is the
whole truth again within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ocpp_events.domain.id_tags import ActiveCharges, ChargeRef

STALE_AFTER = timedelta(minutes=10)
MAX_PENDING_STOPS = 10_000


@dataclass
class LocalCharges:
    starts: dict[str, dict[ChargeRef, datetime]] = field(default_factory=dict)  # by tag key
    stops: dict[str, set[ChargeRef]] = field(default_factory=dict)
    owners: dict[ChargeRef, str] = field(default_factory=dict)  # local start -> tag key
    # stops of charges nothing counted when they were seen, oldest first
    pending: dict[tuple[str, ChargeRef], None] = field(default_factory=dict)

    def started(self, key: str, ref: ChargeRef, at: datetime) -> None:
        self.starts.setdefault(key, {})[ref] = at
        self.owners[ref] = key
        self._discard_stop(key, ref)

    def cancel_start(self, key: str, ref: ChargeRef) -> None:
        """The start's event was not confirmed: the station was told to retry."""
        self._discard_start(key, ref)

    def stopped(self, key: str, ref: ChargeRef, server: ActiveCharges | None) -> None:
        """`server`: save-server's view of the tag's charges."""
        counted = self._discard_start(key, ref) or (
            server is not None and ref in server.charges)
        self.stops.setdefault(key, set()).add(ref)
        if counted:
            self.pending.pop((key, ref), None)
            return
        self.pending[(key, ref)] = None
        while len(self.pending) > MAX_PENDING_STOPS:
            oldest = next(iter(self.pending))
            self._discard_stop(*oldest)

    def owner(self, ref: ChargeRef) -> str | None:
        return self.owners.get(ref)

    def running(self, key: str, server: ActiveCharges | None, now: datetime,
                excluded: ChargeRef | None = None) -> int:
        """save-server's charges of the tag, plus local starts younger than `STALE_AFTER`,
        minus local stops (and minus `excluded`, the charge being asked about)."""
        starts, stops = self.starts.get(key), self.stops.get(key)
        if not starts and not stops:  # the usual case: nothing local to add or subtract
            return 0 if server is None else len(server.charges) - (excluded in server.charges)
        charges = set(server.charges) if server is not None else set()
        charges.update(ref for ref, at in (starts or {}).items()
                       if now - at <= STALE_AFTER)
        charges.difference_update(self.stops.get(key, ()))
        charges.discard(excluded)  # type: ignore[arg-type]
        return len(charges)

    def reconcile(self, key: str, server: ActiveCharges | None, now: datetime) -> None:
        """save-server published a newer view of the tag's charges."""
        listed = server.charges if server is not None else frozenset()
        for ref, at in list(self.starts.get(key, {}).items()):
            if ref in listed or now - at > STALE_AFTER:
                self._discard_start(key, ref)
        for ref in list(self.stops.get(key, ())):
            if ref not in listed:
                self._discard_stop(key, ref)
            else:  # counted now: kept until save-server no longer lists it
                self.pending.pop((key, ref), None)

    def _discard_start(self, key: str, ref: ChargeRef) -> bool:
        starts = self.starts.get(key)
        if starts is None or starts.pop(ref, None) is None:
            return False
        self.owners.pop(ref, None)
        if not starts:
            del self.starts[key]
        return True

    def _discard_stop(self, key: str, ref: ChargeRef) -> None:
        self.pending.pop((key, ref), None)
        stops = self.stops.get(key)
        if stops is not None:
            stops.discard(ref)
            if not stops:
                del self.stops[key]
