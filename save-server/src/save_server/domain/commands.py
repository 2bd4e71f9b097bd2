"""Commands the domain understands: what a station did, in the domain's own words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from save_server.domain.model import BootInfo, MeterSample, StatusReport


@dataclass(frozen=True)
class ObserveConnection:
    """The station was heard from on this connection at this time."""

    station_id: str
    connection_id: str
    at: datetime


@dataclass(frozen=True)
class RecordDisconnection:
    station_id: str
    connection_id: str
    at: datetime


@dataclass(frozen=True)
class RecordBoot:
    station_id: str
    at: datetime
    info: BootInfo
    connection_id: str | None = None


@dataclass(frozen=True)
class ReportConnectorStatus:
    station_id: str
    connector_id: int
    report: StatusReport


@dataclass(frozen=True)
class StartCharge:
    station_id: str
    transaction_id: str
    connector_id: int | None
    id_tag: str | None
    meter_start_wh: float | None
    started_at: datetime | None
    authorization: str | None = None  # the status the gateway answered the id tag with


@dataclass(frozen=True)
class StopCharge:
    station_id: str
    transaction_id: str
    meter_stop_wh: float | None
    ended_at: datetime
    stop_reason: str | None
    id_tag: str | None = None
    connector_id: int | None = None


@dataclass(frozen=True)
class RecordMeterValues:
    """Readings of a station; with a transaction id they also belong to that charge."""

    station_id: str
    connector_id: int | None
    transaction_id: str | None
    samples: tuple[MeterSample, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SetStationDetails:
    """An operator set the station's name, address or position (given fields only)."""

    station_id: str
    details: tuple[tuple[str, str | float | None], ...]


Command = (ObserveConnection | RecordDisconnection | RecordBoot | ReportConnectorStatus
           | StartCharge | StopCharge | RecordMeterValues | SetStationDetails)
