"""Stations as this process last committed them: a worker's next batch mostly touches the
same stations, and loading one costs six reads. A cached station is used only when its locked
row still carries the revision this process wrote; any other writer bumps it."""

from __future__ import annotations

import threading

from save_server.domain.model import Station
from save_server.infrastructure.db.station_rows import Snapshot

MAX_STATIONS = 50_000


class StationCache:
    """One per process and database (built by `bootstrap.py`, shared by its units of work).
    A unit of work takes its stations out (they are then its own to change) and puts them
    back after its commit; after a rollback they stay out, so nothing uncommitted is kept."""

    def __init__(self, max_stations: int = MAX_STATIONS) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Station, Snapshot]] = {}
        self._max = max_stations

    def take(self, station_id: str, revision: int) -> tuple[Station, Snapshot] | None:
        with self._lock:
            entry = self._entries.pop(station_id, None)
        if entry is None or entry[1].revision != revision:
            return None
        return entry

    def put(self, station: Station, snapshot: Snapshot) -> None:
        _as_loaded(station)
        with self._lock:
            if len(self._entries) >= self._max and station.station_id not in self._entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[station.station_id] = (station, snapshot)

    def __len__(self) -> int:
        return len(self._entries)


def _as_loaded(station: Station) -> None:
    """Keep what `load_stations` would read back for this station: its latest connection(s),
    the two times the others contributed, and each connector's reports from its horizon."""
    summary = station.connection_summary()
    latest = summary.last_connected_at  # first sight of the latest connection
    station.connections = {key: c for key, c in station.connections.items()
                           if latest is not None and c.first_seen_at == latest}
    station.known_first_connected_at = summary.first_connected_at
    station.known_last_seen_at = summary.last_seen_at
    for connector in station.connectors.values():
        horizon = connector.history_horizon
        if horizon is not None:
            connector.reports = [r for r in connector.reports if r.at >= horizon]
