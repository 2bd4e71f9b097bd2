"""Apply domain commands to the aggregates of one unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import singledispatch

from save_server.domain.commands import (
    Command,
    ObserveConnection,
    RecordBoot,
    RecordDisconnection,
    RecordMeterValues,
    ReportConnectorStatus,
    SetStationDetails,
    StartCharge,
    StopCharge,
)
from save_server.domain.model import Charge, Station
from save_server.domain.ports import UnitOfWork


def station(uow: UnitOfWork, station_id: str) -> Station:
    """Stations are accepted on first contact (no prior registration)."""
    return uow.stations.get_or_create(station_id)


def charge(uow: UnitOfWork, station_id: str, transaction_id: str) -> Charge:
    return uow.charges.get_or_create(station_id, transaction_id)


@singledispatch
def apply(command: Command, uow: UnitOfWork) -> None:
    raise TypeError(f"no handler for {type(command).__name__}")


@apply.register
def _observe(command: ObserveConnection, uow: UnitOfWork) -> None:
    station(uow, command.station_id).seen(command.connection_id, command.at)


@apply.register
def _disconnect(command: RecordDisconnection, uow: UnitOfWork) -> None:
    station(uow, command.station_id).disconnected(command.connection_id, command.at)


@apply.register
def _boot(command: RecordBoot, uow: UnitOfWork) -> None:
    station(uow, command.station_id).booted(command.at, command.info, command.connection_id)


@apply.register
def _details(command: SetStationDetails, uow: UnitOfWork) -> None:
    station(uow, command.station_id).update_details(**dict(command.details))


@apply.register
def _status(command: ReportConnectorStatus, uow: UnitOfWork) -> None:
    station(uow, command.station_id).report_status(command.connector_id, command.report)


@apply.register
def _start(command: StartCharge, uow: UnitOfWork) -> None:
    started = charge(uow, command.station_id, command.transaction_id)
    before = replace(started)
    started.start(command.connector_id, command.id_tag, command.meter_start_wh,
                  command.started_at, command.authorization)
    if started.id_tag and started.id_tag_holder is None and started.id_tag_group is None:
        started.id_tag_holder, started.id_tag_group = uow.charges.tag_details(started.id_tag)
    _charge_changed(uow, before, started)


@apply.register
def _stop(command: StopCharge, uow: UnitOfWork) -> None:
    stopped = charge(uow, command.station_id, command.transaction_id)
    before = replace(stopped)
    stopped.stop(command.meter_stop_wh, command.ended_at, command.stop_reason,
                 command.id_tag, command.connector_id)
    _charge_changed(uow, before, stopped)


def _charge_changed(uow: UnitOfWork, before: Charge, after: Charge) -> None:
    """A charge's start and end are facts about its connector too (thesis table 4.1), for
    stations that send no status report around a charge."""
    if after.connector_id is not None and (before.connector_id, before.started_at,
                                           before.ended_at, before.id_tag) != (
            after.connector_id, after.started_at, after.ended_at, after.id_tag):
        station(uow, after.station_id).charge_changed(before, after)


@apply.register
def _meter_values(command: RecordMeterValues, uow: UnitOfWork) -> None:
    station(uow, command.station_id).record_readings(list(command.samples))
    if command.transaction_id is not None and command.samples:
        uow.charges.add_meter_values(command.station_id, command.transaction_id,
                                     command.samples)


Handler = Callable[[Command, UnitOfWork], None]
