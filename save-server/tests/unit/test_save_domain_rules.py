"""Table-driven tests of every business rule of the domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from save_server.domain.model import (
    BootInfo,
    Charge,
    InvalidStationData,
    MeterSample,
    Station,
    StatusReport,
)
from save_server.domain.rules import (
    ChargeStatus,
    ConnectorStatus,
    Measurand,
    StationStatus,
    charge_status_for,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
A, IN_USE, F = ConnectorStatus.AVAILABLE, ConnectorStatus.IN_USE, ConnectorStatus.FAULTED


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(("stopped", "reason", "expected"), [
    (False, None, ChargeStatus.CHARGING),
    (False, "EmergencyStop", ChargeStatus.CHARGING),
    (True, None, ChargeStatus.FINISHED),
    (True, "Local", ChargeStatus.FINISHED),
    (True, "Remote", ChargeStatus.FINISHED),
    *[(True, reason, ChargeStatus.ERROR) for reason in (
        "EmergencyStop", "EVDisconnected", "PowerLoss", "Reboot", "HardReset", "SoftReset",
        "UnlockCommand", "DeAuthorized", "Other")],
])
def test_stop_reason_decides_the_final_charge_status(stopped: bool, reason: str | None,
                                                     expected: ChargeStatus) -> None:
    assert charge_status_for(stopped, reason) is expected


def test_charge_energy_duration_and_end_time_come_from_start_and_stop() -> None:
    charge = Charge("CP", "1")
    charge.start(1, "TAG", 1000, at(0))
    assert (charge.status, charge.energy_wh, charge.duration_seconds) == (
        ChargeStatus.CHARGING, None, None)
    charge.stop(4500, at(3600), "Local")
    assert charge.status is ChargeStatus.FINISHED
    assert charge.energy_wh == 3500
    assert charge.ended_at == at(3600)
    assert charge.duration_seconds == 3600


def test_a_stop_before_its_start_still_yields_one_complete_charge() -> None:
    charge = Charge("CP", "1")
    charge.stop(4500, at(600), "EmergencyStop")
    assert charge.status is ChargeStatus.ERROR and charge.energy_wh is None
    assert charge.sort_at == at(600)
    charge.start(2, "TAG", 500, at(0))
    assert (charge.energy_wh, charge.duration_seconds, charge.connector_id, charge.stop_reason) \
        == (4000, 600, 2, "EmergencyStop")
    assert charge.sort_at == at(0)


def report(status: ConnectorStatus, seconds: float, raw: str | None = None) -> StatusReport:
    return StatusReport(at(seconds), status, raw or status.value)


@pytest.mark.parametrize(("reports", "status", "last_used"), [
    ([(A, 0)], A, None),
    ([(A, 0), (IN_USE, 10)], IN_USE, None),
    ([(A, 0), (IN_USE, 10), (A, 20)], A, 20),
    ([(A, 0), (IN_USE, 10), (F, 20), (A, 30)], A, 20),
    ([(IN_USE, 10), (IN_USE, 15), (A, 20), (IN_USE, 30)], IN_USE, 20),
    ([(A, 20), (IN_USE, 10)], A, 20),  # arrival order does not matter
    ([(IN_USE, 30), (A, 40), (IN_USE, 10), (A, 20)], A, 40),
    ([(A, 40), (IN_USE, 10)], A, 40),
])
def test_connector_status_is_the_latest_report_and_last_used_is_the_last_release(
        reports: list[tuple[ConnectorStatus, float]], status: ConnectorStatus,
        last_used: float | None) -> None:
    station = Station("CP")
    for connector_status, seconds in reports:
        station.report_status(1, report(connector_status, seconds))
    connector = station.connectors[1]
    assert connector.status is status
    assert connector.last_used_at == (None if last_used is None else at(last_used))


def test_an_older_status_never_overwrites_a_newer_one() -> None:
    station = Station("CP")
    station.report_status(1, report(F, 20, "Faulted"))
    station.report_status(1, report(A, 10, "Available"))
    assert (station.connectors[1].status, station.connectors[1].raw_status) == (F, "Faulted")


def test_connector_zero_is_the_station_availability_not_a_connector() -> None:
    station = Station("CP")
    station.report_status(0, report(ConnectorStatus.UNAVAILABLE, 10, "Unavailable"))
    station.report_status(0, report(A, 5))
    assert station.connectors == {}
    assert station.availability is not None
    assert station.availability.status is ConnectorStatus.UNAVAILABLE


@pytest.mark.parametrize(("events", "shown"), [
    ([("tag", 10)], "T"),
    ([("tag", 10), (IN_USE, 11)], "T"),
    ([("tag", 10), (IN_USE, 11), (F, 20)], "T"),
    ([("tag", 10), (IN_USE, 11), (A, 20)], None),
    ([(A, 20), ("tag", 10)], None),
    ([(A, 5), ("tag", 10)], "T"),
    ([("boot", 20), (IN_USE, 11), ("tag", 10)], None),
])
def test_id_tag_is_kept_until_the_connector_becomes_available(
        events: list[tuple[object, float]], shown: str | None) -> None:
    station = Station("CP")
    for what, seconds in events:
        if what == "tag":
            station.assign_id_tag(1, "T", at(seconds))
        elif what == "boot":
            station.booted(at(seconds), BootInfo())
        else:
            assert isinstance(what, ConnectorStatus)
            station.report_status(1, report(what, seconds))
    assert station.connectors[1].id_tag == shown


def test_a_boot_makes_connectors_available_unless_a_newer_status_says_otherwise() -> None:
    station = Station("CP")
    station.report_status(1, report(IN_USE, 10))
    station.report_status(2, report(F, 30))
    station.booted(at(20), BootInfo("ACME", "M", "S", "F"))
    assert station.connectors[1].status is A and station.connectors[1].last_used_at == at(20)
    assert station.connectors[2].status is F
    assert station.boot_info.vendor == "ACME"


@pytest.mark.parametrize(("events", "status", "last_connected"), [
    ([("seen", "a", 0)], StationStatus.CONNECTED, 0),
    ([("seen", "a", 0), ("gone", "a", 10)], StationStatus.DISCONNECTED, 0),
    ([("seen", "a", 0), ("seen", "b", 20), ("gone", "a", 30)], StationStatus.CONNECTED, 20),
    ([("gone", "a", 30), ("seen", "b", 20), ("seen", "a", 0)], StationStatus.CONNECTED, 20),
    ([("seen", "b", 20), ("gone", "b", 40), ("gone", "a", 30)], StationStatus.DISCONNECTED,
     20),
    ([("gone", "b", 40), ("seen", "b", 20), ("seen", "a", 0)], StationStatus.DISCONNECTED,
     20),
])
def test_a_disconnect_only_counts_for_the_connection_it_names(
        events: list[tuple[str, str, float]], status: StationStatus,
        last_connected: float) -> None:
    station = Station("CP")
    for what, connection, seconds in events:
        if what == "seen":
            station.seen(connection, at(seconds))
        else:
            station.disconnected(connection, at(seconds))
    assert station.status is status
    assert station.last_connected_at == at(last_connected)
    assert station.first_connected_at == min(at(s) for _, _, s in events)


def test_a_station_never_heard_from_is_disconnected() -> None:
    assert Station("CP").status is StationStatus.DISCONNECTED


def test_readings_keep_the_latest_value_per_measurand_and_phase() -> None:
    station = Station("CP")
    station.record_readings([
        MeterSample(at(10), Measurand.VOLTAGE, 231, "V", "L1"),
        MeterSample(at(5), Measurand.VOLTAGE, 229, "V", "L1"),
        MeterSample(at(5), Measurand.VOLTAGE, 228, "V", "L2"),
        MeterSample(at(7), Measurand.POWER, 7000, "W"),
    ])
    values = {(k[0].value, k[1]): v.value for k, v in station.readings.items()}
    assert values == {("voltage", "L1"): 231, ("voltage", "L2"): 228, ("power", ""): 7000}


@pytest.mark.parametrize(("details", "error_field"), [
    ({"latitude": 90.0001}, "latitude"),
    ({"latitude": -91}, "latitude"),
    ({"longitude": 180.5}, "longitude"),
    ({"longitude": -181}, "longitude"),
    ({"latitude": 38.7, "longitude": -9.1, "name": "Garage"}, None),
    ({"latitude": -90, "longitude": 180}, None),
])
def test_coordinates_are_range_checked_decimal_degrees(details: dict[str, float | str],
                                                       error_field: str | None) -> None:
    station = Station("CP", name="Old", address="Street 1")
    if error_field is None:
        station.update_details(**details)
        assert station.address == "Street 1"  # omitted fields are kept
        for key, value in details.items():
            assert getattr(station, key) == value
    else:
        with pytest.raises(InvalidStationData) as raised:
            station.update_details(**details)
        assert raised.value.field_name == error_field
        assert station.latitude is None and station.name == "Old"
