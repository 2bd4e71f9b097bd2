"""OCPP 1.6 events → domain commands."""

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
    number,
    optional_timestamp,
    required,
    text,
    timestamp,
)
from save_server.infrastructure.translation.envelope import Envelope


def _unit(sampled: dict[str, Any]) -> tuple[str | None, int]:
    measurand = sampled.get("measurand") or "Energy.Active.Import.Register"
    default = "Wh" if measurand.startswith("Energy.Active") else None
    return sampled.get("unit") or default, 0


def boot(event: Envelope) -> list[Command]:
    p = event.payload
    info = BootInfo(
        vendor=text(p.get("chargePointVendor"), "chargePointVendor"),
        model=text(p.get("chargePointModel"), "chargePointModel"),
        serial_number=text(p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
                           "chargePointSerialNumber"),
        firmware_version=text(p.get("firmwareVersion"), "firmwareVersion"),
    )
    return [RecordBoot(event.charging_station_id, event.received_at, info,
                       event.connection_id)]


def status(event: Envelope) -> list[Command]:
    p = event.payload
    raw = required(p, "status")
    report = StatusReport(
        at=optional_timestamp(p.get("timestamp"), "timestamp", event.received_at),
        status=connector_status(raw, "status"),
        raw_status=raw,
        error_code=text(p.get("errorCode"), "errorCode"),
        info=text(p.get("info"), "info") or text(p.get("vendorErrorCode"), "vendorErrorCode"),
        received_at=event.received_at, connection_id=event.connection_id,
    )
    connector_id = integer(required(p, "connectorId"), "connectorId")
    return [ReportConnectorStatus(event.charging_station_id, connector_id, report)]


def start_transaction(event: Envelope) -> list[Command]:
    """The transaction id is the one the gateway answered with (the CSMS chooses it in 1.6)."""
    if event.response is None:
        return []  # answered with a CallError: no transaction was started
    p = event.payload
    transaction_id = required(event.response, "transactionId", "response.transactionId")
    return [StartCharge(
        station_id=event.charging_station_id,
        transaction_id=str(integer(transaction_id, "response.transactionId")),
        connector_id=integer(required(p, "connectorId"), "connectorId"),
        id_tag=text(p.get("idTag"), "idTag"),
        meter_start_wh=number(required(p, "meterStart"), "meterStart"),
        started_at=timestamp(required(p, "timestamp"), "timestamp"),
        authorization=answered_status(event.response, "idTagInfo"),
    )]


def stop_transaction(event: Envelope) -> list[Command]:
    p = event.payload
    transaction_id = str(integer(required(p, "transactionId"), "transactionId"))
    samples = meter_samples(p.get("transactionData"), "transactionData", _unit)
    commands: list[Command] = [StopCharge(
        station_id=event.charging_station_id,
        transaction_id=transaction_id,
        meter_stop_wh=number(required(p, "meterStop"), "meterStop"),
        ended_at=timestamp(required(p, "timestamp"), "timestamp"),
        stop_reason=text(p.get("reason"), "reason"),
        id_tag=text(p.get("idTag"), "idTag"),
    )]
    if samples:
        commands.append(RecordMeterValues(event.charging_station_id, None, transaction_id,
                                          tuple(samples)))
    return commands


def meter_values(event: Envelope) -> list[Command]:
    p = event.payload
    transaction_id = p.get("transactionId")
    samples = meter_samples(required(p, "meterValue"), "meterValue", _unit)
    return [RecordMeterValues(
        station_id=event.charging_station_id,
        connector_id=integer(required(p, "connectorId"), "connectorId"),
        transaction_id=None if transaction_id is None else str(
            integer(transaction_id, "transactionId")),
        samples=tuple(samples),
    )]


__all__ = ["InvalidPayload", "boot", "energy_register", "meter_values", "start_transaction",
           "status", "stop_transaction"]
