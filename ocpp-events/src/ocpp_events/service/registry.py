"""Which station is connected through which live connection (one per station id)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StationConnection:
    """One live websocket connection of a station.

    `charge_point` is the OCPP session object (it can send server-initiated calls with
    `await charge_point.call(...)`); `websocket` is the underlying connection.
    """

    station_id: str
    connection_id: str
    ocpp_version: str
    charge_point: Any
    websocket: Any
    admission: Any = None  # domain.admission.Admitted: how it got in, re-checked on changes


class ConnectionRegistry:
    """station id -> its current connection. The newest connection of a station wins."""

    def __init__(self) -> None:
        self._by_station: dict[str, StationConnection] = {}

    def register(self, connection: StationConnection) -> StationConnection | None:
        """Record `connection`; return the connection it replaces, if any (to be closed)."""
        previous = self._by_station.get(connection.station_id)
        self._by_station[connection.station_id] = connection
        return previous

    def unregister(self, station_id: str, connection_id: str) -> bool:
        """Forget the station only if `connection_id` is still its current connection."""
        current = self._by_station.get(station_id)
        if current is None or current.connection_id != connection_id:
            return False
        del self._by_station[station_id]
        return True

    def get(self, station_id: str) -> StationConnection | None:
        return self._by_station.get(station_id)

    def connections(self) -> list[StationConnection]:
        return list(self._by_station.values())

    def __len__(self) -> int:
        return len(self._by_station)
