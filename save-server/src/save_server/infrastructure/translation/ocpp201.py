"""OCPP 2.0.1 events → the same domain commands (EVSE id = connector id in the domain; a status
report keeps the connector within its EVSE)."""

from __future__ import annotations

from typing import Any

from save_server.domain.commands import (
    Command,
    RecordBoot,
    RecordMeterValues,
    ReportConnectorStatus,
    StartCharge,
    StopCharge,
)
from save_server.domain.model import BootInfo, StatusReport
from save_server.infrastructure.translation.common import (
    InvalidPayload,
    answered_status,
    connector_status,
    energy_register,
    integer,
    meter_samples,
    required,
    text,
    timestamp,
)
from save_server.infrastructure.translation.envelope import Envelope


def _unit(sampled: dict[str, Any]) -> tuple[str | None, int]:
    unit_of_measure = sampled.get("unitOfMeasure") or {}
    measurand = sampled.get("measurand") or "Energy.Active.Import.Register"
    default = "Wh" if measurand.startswith("Energy.Active") else None
    multiplier = unit_of_measure.get("multiplier", 0)
    return unit_of_measure.get("unit") or default, integer(multiplier, "multiplier")


def boot(event: Envelope) -> list[Command]:
    station = event.payload.get("chargingStation")
    if not isinstance(station, dict):
        raise InvalidPayload("chargingStation: required object")
    info = BootInfo(
        vendor=text(station.get("vendorName"), "chargingStation.vendorName"),
        model=text(station.get("model"), "chargingStation.model"),
        serial_number=text(station.get("serialNumber"), "chargingStation.serialNumber"),
        firmware_version=text(station.get("firmwareVersion"), "chargingStation.firmwareVersion"),
    )
    return [RecordBoot(event.charging_station_id, event.received_at, info,
                       event.connection_id)]


def status(event: Envelope) -> list[Command]:
    p = event.payload
    raw = required(p, "connectorStatus")
    evse_id = integer(required(p, "evseId"), "evseId")
    connector_id = p.get("connectorId")
    report = StatusReport(at=timestamp(required(p, "timestamp"), "timestamp"),
                          status=connector_status(raw, "connectorStatus"), raw_status=raw,
                          received_at=event.received_at, connection_id=event.connection_id,
                          evse_connector_id=None if connector_id is None else integer(
                              connector_id, "connectorId"))
    return [ReportConnectorStatus(event.charging_station_id, evse_id, report)]


def transaction_event(event: Envelope) -> list[Command]:
    p = event.payload
    kind = required(p, "eventType")
    if kind not in ("Started", "Updated", "Ended"):
        raise InvalidPayload(f"eventType: unknown {kind!r}")
    info = required(p, "transactionInfo")
    if not isinstance(info, dict):
        raise InvalidPayload("transactionInfo: expected an object")
    transaction_id = text(required(info, "transactionId", "transactionInfo.transactionId"),
                          "transactionInfo.transactionId")
    assert transaction_id is not None
    at = timestamp(required(p, "timestamp"), "timestamp")
    evse = p.get("evse")
    connector_id = integer(evse.get("id"), "evse.id") if isinstance(evse, dict) else None
    id_token = p.get("idToken")
    id_tag = text(id_token.get("idToken"), "idToken.idToken") \
        if isinstance(id_token, dict) else None
    samples = meter_samples(p.get("meterValue"), "meterValue", _unit)
    station_id = event.charging_station_id
    commands: list[Command] = []
    authorization = answered_status(event.response, "idTokenInfo") if id_tag else None
    if kind == "Started":
        commands.append(StartCharge(station_id, transaction_id, connector_id, id_tag,
                                    energy_register(samples), at, authorization))
    elif kind == "Updated" and (connector_id is not None or id_tag):
        commands.append(StartCharge(station_id, transaction_id, connector_id, id_tag,
                                    None, None, authorization))
    elif kind == "Ended":
        commands.append(StopCharge(
            station_id, transaction_id, energy_register(samples), at,
            text(info.get("stoppedReason"), "transactionInfo.stoppedReason"),
            id_tag, connector_id))
    if samples:
        commands.append(RecordMeterValues(station_id, connector_id, transaction_id,
                                          tuple(samples)))
    return commands


def meter_values(event: Envelope) -> list[Command]:
    p = event.payload
    samples = meter_samples(required(p, "meterValue"), "meterValue", _unit)
    return [RecordMeterValues(event.charging_station_id,
                              integer(required(p, "evseId"), "evseId"), None, tuple(samples))]
