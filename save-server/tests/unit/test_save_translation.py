"""The translation layer: OCPP 1.6 / 2.0.1 events → domain commands; bad input → poison."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from save_server.domain.commands import (
    ObserveConnection,
    RecordBoot,
    RecordDisconnection,
    RecordMeterValues,
    ReportConnectorStatus,
    StartCharge,
    StopCharge,
)
from save_server.domain.rules import ConnectorStatus, Measurand
from save_server.infrastructure.translation import (
    HANDLED_TYPES,
    PoisonMessage,
    parse_envelope,
    translate,
)


def commands_of(event: dict[str, Any]) -> list[Any]:
    return translate(parse_envelope(json.dumps(event).encode()))


@pytest.mark.parametrize(("raw", "expected"), [
    ("Available", ConnectorStatus.AVAILABLE),
    ("Preparing", ConnectorStatus.IN_USE),
    ("Charging", ConnectorStatus.IN_USE),
    ("SuspendedEV", ConnectorStatus.IN_USE),
    ("SuspendedEVSE", ConnectorStatus.IN_USE),
    ("Finishing", ConnectorStatus.IN_USE),
    ("Reserved", ConnectorStatus.RESERVED),
    ("Unavailable", ConnectorStatus.UNAVAILABLE),
    ("Faulted", ConnectorStatus.FAULTED),
])
def test_ocpp16_status_maps_per_the_digest_table(charger: Callable[..., Any], raw: str,
                                                 expected: ConnectorStatus) -> None:
    cp = charger()
    observe, status = commands_of(cp.status(2, raw, error_code="GroundFailure"))
    assert isinstance(observe, ObserveConnection) and observe.connection_id == cp.connection_id
    assert isinstance(status, ReportConnectorStatus)
    assert (status.connector_id, status.report.status, status.report.raw_status,
            status.report.error_code) == (2, expected, raw, "GroundFailure")


@pytest.mark.parametrize(("raw", "expected"), [
    ("Available", ConnectorStatus.AVAILABLE),
    ("Occupied", ConnectorStatus.IN_USE),
    ("Reserved", ConnectorStatus.RESERVED),
    ("Unavailable", ConnectorStatus.UNAVAILABLE),
    ("Faulted", ConnectorStatus.FAULTED),
])
def test_ocpp201_status_maps_evse_to_connector(charger: Callable[..., Any], raw: str,
                                               expected: ConnectorStatus) -> None:
    cp = charger(version="2.0.1")
    _, status = commands_of(cp.status201(3, raw))
    assert (status.connector_id, status.report.status, status.report.raw_status) == (
        3, expected, raw)


def test_ocpp16_transaction_messages(charger: Callable[..., Any]) -> None:
    cp = charger()
    _, start = commands_of(cp.start(1, 42, 1000, "TAG-9",
                                    at=datetime(2026, 1, 1, 10, tzinfo=UTC)))
    assert start == StartCharge(cp.station_id, "42", 1, "TAG-9", 1000.0,
                                datetime(2026, 1, 1, 10, tzinfo=UTC), "Accepted")
    _, stop = commands_of(cp.stop(42, 5000, "PowerLoss", at=datetime(2026, 1, 1, 11, tzinfo=UTC)))
    assert stop == StopCharge(cp.station_id, "42", 5000.0, datetime(2026, 1, 1, 11, tzinfo=UTC),
                              "PowerLoss", None)


def test_ocpp16_meter_values_keep_known_measurands_in_base_units(
        charger: Callable[..., Any]) -> None:
    cp = charger()
    _, meter = commands_of(cp.meter_values(1, [
        {"value": "1.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
        {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
        {"value": "12"},  # no measurand: the energy register, in Wh
        {"value": "1", "measurand": "Power.Reactive.Import"},  # not kept
    ], transaction_id=42))
    assert isinstance(meter, RecordMeterValues) and meter.transaction_id == "42"
    assert [(s.measurand, s.value, s.unit, s.phase) for s in meter.samples] == [
        (Measurand.ENERGY_REGISTER, 1500.0, "Wh", None),
        (Measurand.VOLTAGE, 230.1, "V", "L1-N"),
        (Measurand.ENERGY_REGISTER, 12.0, "Wh", None),
    ]


def test_boot_and_disconnect(charger: Callable[..., Any]) -> None:
    cp = charger()
    _, boot = commands_of(cp.boot())
    assert isinstance(boot, RecordBoot)
    assert (boot.info.vendor, boot.info.model, boot.info.serial_number,
            boot.info.firmware_version) == ("ACME", "Wallbox 22", "SN-1", "1.2.3")
    [disconnect] = commands_of(cp.disconnect())
    assert isinstance(disconnect, RecordDisconnection)
    assert disconnect.connection_id == cp.connection_id


def test_ocpp201_transaction_event_lifecycle(charger: Callable[..., Any]) -> None:
    cp = charger(version="2.0.1")
    _, start, meter = commands_of(cp.transaction201("Started", "tx-abc", 2, energy_wh=100,
                                                    id_token="RFID-1"))
    assert isinstance(start, StartCharge)
    assert (start.transaction_id, start.connector_id, start.id_tag, start.meter_start_wh) == (
        "tx-abc", 2, "RFID-1", 100.0)
    assert isinstance(meter, RecordMeterValues) and meter.transaction_id == "tx-abc"
    _, stop, _ = commands_of(cp.transaction201("Ended", "tx-abc", 2, energy_wh=2100,
                                               stopped_reason="EVDisconnected"))
    assert isinstance(stop, StopCharge)
    assert (stop.meter_stop_wh, stop.stop_reason, stop.connector_id) == (
        2100.0, "EVDisconnected", 2)
    boot = commands_of(cp.boot201())[1]
    assert (boot.info.vendor, boot.info.model) == ("ACME", "Wallbox 201")


def test_heartbeat_and_authorize_only_note_the_connection(charger: Callable[..., Any]) -> None:
    cp = charger()
    assert [type(c) for c in commands_of(cp.heartbeat())] == [ObserveConnection]
    assert "ocpp-events.heart-beat" in HANDLED_TYPES
    assert "ocpp-events.transaction-event" in HANDLED_TYPES


def test_a_start_the_gateway_refused_starts_nothing(charger: Callable[..., Any]) -> None:
    event = charger().start(1, 1, 0)
    event["response"] = None
    assert [type(c) for c in commands_of(event)] == [ObserveConnection]


def _mutate(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(event: dict[str, Any]) -> None:
        target = event
        *parents, last = path.split(".")
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return apply


@pytest.mark.parametrize(("builder", "mutation", "message"), [
    ("status", _mutate("payload.status", "Exploded"), "unknown connector status"),
    ("status", _mutate("payload.connectorId", "one"), "connectorId"),
    ("status", _mutate("payload.timestamp", "yesterday"), "timestamp"),
    ("start", _mutate("response.transactionId", KeyError), "response.transactionId"),
    ("start", _mutate("payload.meterStart", "lots"), "meterStart"),
    ("stop", _mutate("payload.transactionId", KeyError), "transactionId"),
    ("stop", _mutate("payload.timestamp", KeyError), "timestamp"),
    ("status", _mutate("event_id", "not-a-uuid"), "event_id"),
    ("status", _mutate("received_at", "2026-01-01T00:00:00"), "received_at"),
    ("status", _mutate("charging_station_id", KeyError), "charging_station_id"),
    ("status", _mutate("charging_station_id", "X" * 49), "charging_station_id"),
    ("status", _mutate("payload", "text"), "payload"),
])
def test_a_contract_breaking_event_is_poison_naming_the_field(
        charger: Callable[..., Any], builder: str, mutation: Callable[[dict[str, Any]], None],
        message: str) -> None:
    cp = charger()
    event = {"status": lambda: cp.status(1, "Available"), "start": lambda: cp.start(1, 5, 0),
             "stop": lambda: cp.stop(5, 10)}[builder]()
    mutation(event)
    with pytest.raises(PoisonMessage, match=message):
        commands_of(event)


@pytest.mark.parametrize("sample", [
    {"value": "nan", "measurand": "Power.Active.Import"},
    {"value": "-inf", "measurand": "Current.Import"},
    {"value": "1e400", "measurand": "Energy.Active.Import.Register"},
])
def test_a_reading_that_is_no_finite_number_is_poison(charger: Callable[..., Any],
                                                      sample: dict[str, Any]) -> None:
    with pytest.raises(PoisonMessage, match="value"):
        commands_of(charger().meter_values(1, [sample]))


def test_a_201_multiplier_out_of_range_is_poison_not_an_overflow(
        charger: Callable[..., Any]) -> None:
    """The schema bounds no multiplier: 10 ** 400 overflowed, outside PoisonMessage, and the
    worker reopened its stream to meet the same event again, for ever."""
    cp = charger(version="2.0.1")
    event = cp.transaction201("Updated", "t-1")
    event["payload"]["meterValue"] = [{"timestamp": event["payload"]["timestamp"],
                                       "sampledValue": [{
                                           "value": 1.0, "measurand": "Power.Active.Import",
                                           "unitOfMeasure": {"unit": "W", "multiplier": 400}}]}]
    with pytest.raises(PoisonMessage, match="value"):
        commands_of(event)


def test_any_error_of_a_translator_is_poison(charger: Callable[..., Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Translating is pure: an error it did not foresee comes back on every delivery, so it is
    poison (dead-lettered), never an error that makes the worker reopen its stream."""
    from save_server.infrastructure import translation

    def broken(event: Any) -> list[Any]:
        raise ArithmeticError("a case nobody thought of")

    cp = charger()
    event = cp.stop(1, 10)
    monkeypatch.setitem(translation.TRANSLATORS, (event["type"], "1.6"), broken)
    with pytest.raises(PoisonMessage, match="ArithmeticError"):
        commands_of(event)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b"\xff\xfe"])
def test_unparseable_bodies_are_poison(raw: bytes) -> None:
    with pytest.raises(PoisonMessage):
        parse_envelope(raw)


def business(event_type: str, payload: dict[str, Any],
             station_id: str | None = None) -> bytes:
    return json.dumps({"event_id": "0d3c0a8e-6a6e-4a51-8f0e-3b7c2f9f1a11", "type": event_type,
                       "schema_version": 1, "charging_station_id": station_id,
                       "received_at": "2026-12-05T12:00:00Z", "principal": "test",
                       "payload": payload}).encode()


@pytest.mark.parametrize("event_type", ["accounts.account-created", "sites.site-deleted",
                                        "reports.run-finished", "registry.station-updated",
                                        "commands.command-recorded"])
def test_the_apis_own_events_become_projections_with_or_without_a_station(
        event_type: str) -> None:
    from save_server.domain.commands import ProjectBusinessEvent

    assert event_type in HANDLED_TYPES
    [command] = translate(parse_envelope(business(event_type, {"id": 7})))
    assert command == ProjectBusinessEvent(event_type, {"id": 7},
                                           datetime(2026, 12, 5, 12, tzinfo=UTC), None)


def test_station_details_without_a_station_are_poison() -> None:
    event = parse_envelope(business("stations.details-changed", {"name": "Garagem"}))
    with pytest.raises(PoisonMessage, match="no station"):
        translate(event)


def test_business_families_save_server_does_not_apply_are_named_not_judged() -> None:
    """The worker acknowledges them as another family's (not dead-lettered)."""
    from save_server.infrastructure.translation import handles

    with pytest.raises(PoisonMessage) as refused:
        parse_envelope(business("event-store.replay-started", {"replay_id": "r"}))
    assert refused.value.event_type == "event-store.replay-started"
    assert not handles("event-store.replay-started")


@pytest.mark.parametrize(("version", "status"), [("1.6", "Invalid"), ("1.6", "Accepted"),
                                                 ("2.0.1", "Blocked"), ("2.0.1", "Accepted")])
def test_a_start_carries_the_status_its_id_tag_was_answered_with(
        charger: Callable[..., Any], version: str, status: str) -> None:
    cp = charger(version=version)
    if version == "1.6":
        event = cp.start(1, 42, 1000, "TAG-9")
        event["response"]["idTagInfo"]["status"] = status
    else:
        event = cp.transaction201("Started", "tx-1", id_token="TAG-9", energy_wh=10)
        event["response"]["idTokenInfo"]["status"] = status
    start = next(c for c in commands_of(event) if isinstance(c, StartCharge))
    assert start.authorization == status
