"""Read models: what the API shows of a station, as stored after each change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from save_server.domain.model import BootInfo, Connector, MeterSample, StatusReport
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
