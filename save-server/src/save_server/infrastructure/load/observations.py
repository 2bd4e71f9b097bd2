"""OCPP events (docs/events.md) → what the load context observes. Tolerant: a field it
cannot read is skipped (the worker, not this reader, dead-letters malformed events)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from save_server.domain.load.live import (
    ChargeChanged,
    CurrentMeasured,
    Observation,
    PowerMeasured,
    StationSeen,
)

# OCPP event types that can change a site's allocation: the load queue is bound to these.
TYPES = ("ocpp-events.connect", "ocpp-events.disconnect", "ocpp-events.boot-notification",
         "ocpp-events.status-notification", "ocpp-events.start-transaction",
         "ocpp-events.stop-transaction", "ocpp-events.transaction-event",
         "ocpp-events.meter-values")
DRAWING_16 = frozenset({"Charging", "SuspendedEVSE", "SuspendedEV"})  # a charge that may draw
NOT_DRAWING_201 = frozenset({"EVConnected", "Idle"})


def observations(event: dict[str, Any]) -> list[Observation]:
    try:
        return list(_read(event))
    except (KeyError, TypeError, ValueError, AttributeError):
        return []


def _read(event: dict[str, Any]) -> Iterator[Observation]:
    kind, station = event["type"], event["charging_station_id"]
    payload, response = event.get("payload") or {}, event.get("response") or {}
    v16 = event.get("ocpp_version") == "1.6"
    connection, version = event.get("connection_id"), event.get("ocpp_version")
    if kind == "ocpp-events.connect":
        yield StationSeen(station, True, connection, version, booted=True)
    elif kind == "ocpp-events.disconnect":
        yield StationSeen(station, False, connection)
    elif kind == "ocpp-events.boot-notification":
        yield StationSeen(station, True, connection, version, booted=True)
    elif kind == "ocpp-events.status-notification" and v16 and payload["connectorId"] > 0:
        status = payload["status"]
        if status in DRAWING_16:
            yield ChargeChanged(station, int(payload["connectorId"]), True)
        elif status in ("Available", "Finishing", "Faulted", "Unavailable"):
            yield ChargeChanged(station, int(payload["connectorId"]), False)
    elif kind == "ocpp-events.start-transaction":
        yield ChargeChanged(station, int(payload["connectorId"]), True,
                            str(response["transactionId"]), payload.get("idTag"))
    elif kind == "ocpp-events.stop-transaction":
        yield ChargeChanged(station, None, False, str(payload["transactionId"]))
    elif kind == "ocpp-events.transaction-event":
        yield from _transaction_event(station, payload)
    elif kind == "ocpp-events.meter-values":  # 2.0.1 evseId 0: the station's main meter
        connector = int(payload["connectorId"] if v16 else payload["evseId"])
        yield from _currents(station, connector, payload.get("meterValue") or [])


def _transaction_event(station: str, payload: dict[str, Any]) -> Iterator[Observation]:
    evse = (payload.get("evse") or {}).get("id")
    info = payload["transactionInfo"]
    transaction = str(info["transactionId"])
    connector = None if evse is None else int(evse)  # only the first event must name it
    if payload["eventType"] == "Ended":
        yield ChargeChanged(station, connector, False, transaction)
    elif info.get("chargingState") is not None or payload["eventType"] == "Started":
        drawing = info.get("chargingState") not in NOT_DRAWING_201
        token = (payload.get("idToken") or {}).get("idToken")
        yield ChargeChanged(station, connector, drawing, transaction,
                            str(token) if token and drawing else None)
    if connector is not None:
        yield from _currents(station, connector, payload.get("meterValue") or [])


def _currents(station: str, connector: int, meter_values: list[Any]) -> Iterator[Observation]:
    """`Current.Import` per meter value; where a meter value has none, `Power.Active.Import`."""
    for meter_value in meter_values:
        samples = meter_value.get("sampledValue") or []
        currents = [s for s in samples if s.get("measurand") == "Current.Import"]
        powers = [s for s in samples if s.get("measurand") == "Power.Active.Import"]
        if not currents and not powers:
            continue
        at = datetime.fromisoformat(str(meter_value["timestamp"]).replace("Z", "+00:00")
                                    ).astimezone(UTC)
        if currents:
            phases = tuple((_phase(s), _reading(s["value"])) for s in currents if _phase(s))
            yield CurrentMeasured(station, connector, max(_reading(s["value"]) for s in currents),
                                  at, phases)
            continue
        phased = tuple((_phase(s), _watts(s)) for s in powers if _phase(s))
        total = sum(w for _, w in phased) if phased else max(_watts(s) for s in powers)
        yield PowerMeasured(station, connector, total, at, phased)


def _phase(sample: dict[str, Any]) -> str:
    """L1, L2, L3 (also L1-N …); "" for none or a phase-to-phase reading."""
    phase = str(sample.get("phase") or "")
    phase = phase[:-2] if phase.endswith("-N") else phase
    return phase if phase in ("L1", "L2", "L3") else ""


def _watts(sample: dict[str, Any]) -> float:
    """1.6 `unit`, 2.0.1 `unitOfMeasure` {unit, multiplier}; W unless kW."""
    measure = sample.get("unitOfMeasure") or {}
    unit = str(sample.get("unit") or measure.get("unit") or "W")
    try:
        value = _reading(sample["value"]) * 10.0 ** int(measure.get("multiplier") or 0)
    except OverflowError as error:  # the schema bounds no multiplier
        raise ValueError(f"a reading out of range: {sample!r}") from error
    return _reading(value * 1000 if unit == "kW" else value)


def _reading(value: Any) -> float:
    """A sample's value as a finite number (NaN or infinity would reach the allocator)."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number
