"""Read models: what the API shows of a station, as stored after each change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from save_server.domain.model import BootInfo, Connector, MeterSample, Station, StatusReport
from save_server.domain.rules import StationStatus


@dataclass
class StationView:
    station_id: str
    status: StationStatus
    first_connected_at: datetime | None = None
    last_connected_at: datetime | None = None
    last_seen_at: datetime | None = None
    boot_info: BootInfo = field(default_factory=BootInfo)
    name: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    availability: StatusReport | None = None
    connectors: list[Connector] = field(default_factory=list)
    readings: list[MeterSample] = field(default_factory=list)


def view_of(station: Station) -> StationView:
    """What the API shows of a station, from the aggregate (connectors by id, readings by
    measurand then phase: the order the readers list them in)."""
    readings = sorted(station.readings.items(),
                      key=lambda item: (item[0][0].value, item[0][1]))
    summary = station.connection_summary()
    return StationView(
        station_id=station.station_id, status=summary.status,
        first_connected_at=summary.first_connected_at,
        last_connected_at=summary.last_connected_at, last_seen_at=summary.last_seen_at,
        boot_info=station.boot_info, name=station.name, address=station.address,
        latitude=station.latitude, longitude=station.longitude,
        availability=station.availability,
        connectors=[station.connectors[c] for c in sorted(station.connectors)],
        readings=[sample for _, sample in readings],
    )
