"""Stations, connectors and charges: plain Python, no framework and no protocol names.

Every derived value is a pure function of the facts recorded so far (status reports, boots,
connections, charge starts and stops), never of the order they arrived in: chargers queue
messages while offline and brokers redeliver, so the same facts may come in any order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from save_server.domain.connector import Boots, Connector
from save_server.domain.rules import (
    LATITUDE_RANGE,
    LONGITUDE_RANGE,
    STATION_CONNECTOR_ID,
    STATUS_AFTER_CHARGE,
    STATUS_WHILE_CHARGING,
    ChargeStatus,
    Measurand,
    StationStatus,
    charge_status_for,
    in_range,
)
from save_server.domain.status import FactSource, StatusReport

__all__ = ["BootInfo", "Boots", "Charge", "Connection", "Connector", "FactSource",
           "InvalidStationData", "MeterSample", "Station", "StatusReport"]

UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidStationData(ValueError):
    """Operator-entered station data that breaks a rule (e.g. latitude out of range)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field_name = field_name


@dataclass
class Connection:
    """One network connection of a station, known by the id the gateway gave it.

    `first_seen_at` stays unknown while the connection is known only from its disconnect:
    such a connection cannot be the station's current one.
    """

    connection_id: str
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    disconnected_at: datetime | None = None

    def seen(self, at: datetime) -> None:
        self.first_seen_at = at if self.first_seen_at is None else min(self.first_seen_at, at)
        self.last_seen_at = at if self.last_seen_at is None else max(self.last_seen_at, at)


@dataclass(frozen=True)
class MeterSample:
    at: datetime
    measurand: Measurand
    value: float
    unit: str | None = None
    phase: str | None = None


@dataclass(frozen=True)
class BootInfo:
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None


class ConnectionSummary(NamedTuple):
    status: StationStatus
    first_connected_at: datetime | None
    last_connected_at: datetime | None
    last_seen_at: datetime | None


@dataclass
class Station:
    """A charging station, known by the identity it connects with."""

    station_id: str
    # The connections loaded: at least the current one and those being changed (a repository
    # may leave older ones out; what they contributed is kept in the two `known_…` fields).
    connections: dict[str, Connection] = field(default_factory=dict)
    known_first_connected_at: datetime | None = None
    known_last_seen_at: datetime | None = None
    boots: Boots = field(default_factory=dict)
    boot_info: BootInfo = field(default_factory=BootInfo)
    boot_info_at: datetime | None = None
    name: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    availability: StatusReport | None = None
    connectors: dict[int, Connector] = field(default_factory=dict)
    readings: dict[tuple[Measurand, str], MeterSample] = field(default_factory=dict)
    new_boots: Boots = field(default_factory=dict)

    # -- connection ---------------------------------------------------------------------
    def seen(self, connection_id: str, at: datetime) -> None:
        self.connections.setdefault(connection_id, Connection(connection_id)).seen(at)

    def disconnected(self, connection_id: str, at: datetime) -> None:
        """Only the named connection ends; a newer connection of the station stays up."""
        connection = self.connections.setdefault(connection_id, Connection(connection_id))
        if connection.disconnected_at is None or at < connection.disconnected_at:
            connection.disconnected_at = at

    def connection_summary(self) -> ConnectionSummary:
        """`status`, `first_connected_at`, `last_connected_at` and `last_seen_at` in one pass
        over the connections. The current connection is the one first seen last (ties: the
        greater id); the station is connected while it has not ended."""
        current: Connection | None = None
        first, last_seen = self.known_first_connected_at, self.known_last_seen_at
        for c in self.connections.values():
            if c.first_seen_at is not None:
                if current is None or (c.first_seen_at, c.connection_id) > (
                        current.first_seen_at, current.connection_id):
                    current = c
                if first is None or c.first_seen_at < first:
                    first = c.first_seen_at
            if c.last_seen_at is not None and (last_seen is None or c.last_seen_at > last_seen):
                last_seen = c.last_seen_at
        if current is None:
            return ConnectionSummary(StationStatus.DISCONNECTED, first, None, last_seen)
        status = (StationStatus.DISCONNECTED if current.disconnected_at is not None
                  else StationStatus.CONNECTED)
        return ConnectionSummary(status, first, current.first_seen_at, last_seen)

    @property
    def status(self) -> StationStatus:
        return self.connection_summary().status

    @property
    def first_connected_at(self) -> datetime | None:
        return self.connection_summary().first_connected_at

    @property
    def last_connected_at(self) -> datetime | None:
        return self.connection_summary().last_connected_at

    @property
    def last_seen_at(self) -> datetime | None:
        return self.connection_summary().last_seen_at

    # -- boot and status ----------------------------------------------------------------
    def booted(self, at: datetime, info: BootInfo, connection_id: str | None = None) -> None:
        """`at` is the gateway's receipt time (a BootNotification carries no station time)."""
        if at not in self.boots:
            self.boots[at] = self.new_boots[at] = connection_id
        if self.boot_info_at is None or at >= self.boot_info_at:
            self.boot_info, self.boot_info_at = info, at
        for connector in self.connectors.values():
            connector.recompute(self.boots)

    def report_status(self, connector_id: int, report: StatusReport) -> None:
        """Connector 0 is the station itself: its status is the station's availability."""
        if connector_id == STATION_CONNECTOR_ID:
            if self.availability is None or report.order_key > self.availability.order_key:
                self.availability = report
            return
        self.connector(connector_id).report(report, boots=self.boots)

    def connector(self, connector_id: int) -> Connector:
        if connector_id not in self.connectors:
            self.connectors[connector_id] = Connector(connector_id)
        return self.connectors[connector_id]

    def assign_id_tag(self, connector_id: int, id_tag: str, at: datetime) -> None:
        if connector_id != STATION_CONNECTOR_ID:
            self.connector(connector_id).assign_id_tag(id_tag, at)

    def charge_changed(self, before: Charge | None, after: Charge) -> None:
        """What a charge says about its connector (in use from its start, available from its
        end), each fact added once: when the charge first shows it."""
        if after.connector_id is None or after.connector_id == STATION_CONNECTOR_ID:
            return
        known = set(charge_facts(before)) if before is not None else set()
        new = [fact for fact in charge_facts(after) if fact not in known]
        if after.id_tag and after.started_at is not None:
            self.assign_id_tag(after.connector_id, after.id_tag, after.started_at)
        if new:
            self.connector(after.connector_id).report(*new, boots=self.boots)

    def record_readings(self, samples: list[MeterSample]) -> None:
        """Keep the latest value of each measurand and phase (by the station's clock)."""
        for sample in samples:
            key = (sample.measurand, sample.phase or "")
            known = self.readings.get(key)
            if known is None or (sample.at, sample.value) > (known.at, known.value):
                self.readings[key] = sample

    # -- operator data ------------------------------------------------------------------
    def update_details(self, **details: str | float | None) -> None:
        """Set any of name, address, latitude, longitude; fields not given are kept."""
        latitude = details.get("latitude")
        longitude = details.get("longitude")
        if latitude is not None and not in_range(float(latitude), LATITUDE_RANGE):
            raise InvalidStationData("latitude", f"must be within {LATITUDE_RANGE}")
        if longitude is not None and not in_range(float(longitude), LONGITUDE_RANGE):
            raise InvalidStationData("longitude", f"must be within {LONGITUDE_RANGE}")
        for name in ("name", "address", "latitude", "longitude"):
            if name in details:
                setattr(self, name, details[name])


@dataclass
class Charge:
    """One charging session, correlated by station + transaction id; filled in any order."""

    station_id: str
    transaction_id: str
    id: int | None = None
    connector_id: int | None = None
    id_tag: str | None = None
    meter_start_wh: float | None = None
    meter_stop_wh: float | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    stopped: bool = False
    stop_reason: str | None = None
    unauthorized: bool | None = None  # the start's id tag was not Accepted (None: unknown)
    id_tag_holder: str | None = None  # the registered tag's holder and group at the start
    id_tag_group: str | None = None

    def start(self, connector_id: int | None, id_tag: str | None,
              meter_start_wh: float | None, started_at: datetime | None,
              authorization: str | None = None) -> None:
        """`authorization`: the status the start's id tag was answered with. A station may
        charge although it was refused (it started offline): the charge is kept, flagged."""
        self.connector_id = self.connector_id if self.connector_id is not None else connector_id
        self.id_tag = self.id_tag or id_tag
        if authorization is not None and self.unauthorized is None:
            self.unauthorized = authorization != "Accepted"
        if meter_start_wh is not None:
            self.meter_start_wh = meter_start_wh
        if started_at is not None:
            self.started_at = started_at if self.started_at is None else min(
                self.started_at, started_at)

    def stop(self, meter_stop_wh: float | None, ended_at: datetime, stop_reason: str | None,
             id_tag: str | None = None, connector_id: int | None = None) -> None:
        """The end time is the stop's own timestamp, even when it arrives much later."""
        self.stopped = True
        self.ended_at, self.stop_reason = ended_at, stop_reason
        if meter_stop_wh is not None:
            self.meter_stop_wh = meter_stop_wh
        self.id_tag = self.id_tag or id_tag
        self.connector_id = self.connector_id if self.connector_id is not None else connector_id

    @property
    def status(self) -> ChargeStatus:
        return charge_status_for(self.stopped, self.stop_reason)

    @property
    def energy_wh(self) -> float | None:
        if self.meter_start_wh is None or self.meter_stop_wh is None:
            return None
        return self.meter_stop_wh - self.meter_start_wh

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def sort_at(self) -> datetime:
        """When the charge is listed: its start, or its end while the start is unknown (or,
        while neither is known, the epoch: listed last)."""
        return self.started_at or self.ended_at or UNKNOWN_TIME


def charge_facts(charge: Charge) -> list[StatusReport]:
    """The connector facts a charge implies once its connector is known."""
    if charge.connector_id is None:
        return []
    facts = []
    if charge.started_at is not None:
        facts.append(StatusReport(charge.started_at, STATUS_WHILE_CHARGING,
                                  source=FactSource.CHARGE))
    if charge.stopped and charge.ended_at is not None:
        facts.append(StatusReport(charge.ended_at, STATUS_AFTER_CHARGE,
                                  source=FactSource.CHARGE))
    return facts
