"""Helpers shared by the OCPP 1.6 and 2.0.1 translations: times, statuses, meter values."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from save_server.domain.model import MeterSample
from save_server.domain.rules import ConnectorStatus, Measurand

# OCPP connector status (1.6 and 2.0.1) → the connector state the business uses (thesis
# table 4.1, with SuspendedEV / SuspendedEVSE as in use: a transaction is still open).
CONNECTOR_STATUS: dict[str, ConnectorStatus] = {
    "Available": ConnectorStatus.AVAILABLE,
    "Preparing": ConnectorStatus.IN_USE,
    "Charging": ConnectorStatus.IN_USE,
    "SuspendedEV": ConnectorStatus.IN_USE,
    "SuspendedEVSE": ConnectorStatus.IN_USE,
    "Finishing": ConnectorStatus.IN_USE,
    "Occupied": ConnectorStatus.IN_USE,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
}

MEASURANDS: dict[str, Measurand] = {
    "Voltage": Measurand.VOLTAGE,
    "Current.Offered": Measurand.CURRENT_OFFERED,
    "Current.Import": Measurand.CURRENT_IMPORTED,
    "Power.Active.Import": Measurand.POWER,
    "Energy.Active.Import.Register": Measurand.ENERGY_REGISTER,
    "Temperature": Measurand.TEMPERATURE,
    "SoC": Measurand.SOC,
    "Frequency": Measurand.FREQUENCY,
}
DEFAULT_MEASURAND = "Energy.Active.Import.Register"
# Units scaled to the base unit the domain keeps (Wh, W, var, varh).
KILO_UNITS = {"kWh": "Wh", "kW": "W", "kvar": "var", "kvarh": "varh", "kVA": "VA"}


class InvalidPayload(ValueError):
    """The OCPP payload inside a well-formed envelope breaks the contract."""


def timestamp(value: Any, field: str) -> datetime:
    """RFC 3339 from the charger; a naive time is taken as UTC."""
    if not isinstance(value, str):
        raise InvalidPayload(f"{field}: expected a date-time string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise InvalidPayload(f"{field}: not a date-time: {value!r}") from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def optional_timestamp(value: Any, field: str, default: datetime) -> datetime:
    return default if value is None else timestamp(value, field)


def connector_status(raw: Any, field: str) -> ConnectorStatus:
    if raw not in CONNECTOR_STATUS:
        raise InvalidPayload(f"{field}: unknown connector status {raw!r}")
    return CONNECTOR_STATUS[raw]


def integer(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPayload(f"{field}: expected an integer, got {value!r}")
    return value


def number(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise InvalidPayload(f"{field}: expected a number, got {value!r}")
    try:
        found = float(value)
    except (TypeError, ValueError) as error:
        raise InvalidPayload(f"{field}: expected a number, got {value!r}") from error
    if not math.isfinite(found):
        raise InvalidPayload(f"{field}: expected a finite number, got {value!r}")
    return found


def text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{field}: expected a string, got {value!r}")
    return value


def required(payload: dict[str, Any], key: str, field: str | None = None) -> Any:
    if key not in payload or payload[key] is None:
        raise InvalidPayload(f"{field or key}: required")
    return payload[key]


def meter_samples(meter_values: Any, field: str, unit_of: Any) -> list[MeterSample]:
    """Known measurands of a meterValue list; `unit_of(sampled)` → (unit, multiplier)."""
    if meter_values is None:
        return []
    if not isinstance(meter_values, list):
        raise InvalidPayload(f"{field}: expected a list")
    samples: list[MeterSample] = []
    for i, meter_value in enumerate(meter_values):
        where = f"{field}[{i}]"
        if not isinstance(meter_value, dict):
            raise InvalidPayload(f"{where}: expected an object")
        at = timestamp(meter_value.get("timestamp"), f"{where}.timestamp")
        sampled = meter_value.get("sampledValue")
        if not isinstance(sampled, list):
            raise InvalidPayload(f"{where}.sampledValue: expected a list")
        samples.extend(_samples(sampled, at, f"{where}.sampledValue", unit_of))
    return samples


def _samples(sampled: Iterable[Any], at: datetime, field: str,
             unit_of: Any) -> Iterable[MeterSample]:
    for j, value in enumerate(sampled):
        where = f"{field}[{j}]"
        if not isinstance(value, dict):
            raise InvalidPayload(f"{where}: expected an object")
        measurand = MEASURANDS.get(value.get("measurand") or DEFAULT_MEASURAND)
        if measurand is None:
            continue
        reading = number(required(value, "value", f"{where}.value"), f"{where}.value")
        unit, multiplier = unit_of(value)
        try:  # the schema bounds no multiplier
            reading *= 10.0 ** multiplier
        except OverflowError as error:
            raise InvalidPayload(f"{where}.value: out of range with multiplier "
                                 f"{multiplier}") from error
        if unit in KILO_UNITS:
            reading, unit = reading * 1000, KILO_UNITS[unit]
        if not math.isfinite(reading):
            raise InvalidPayload(f"{where}.value: out of range with multiplier {multiplier}")
        yield MeterSample(at, measurand, reading, unit, text(value.get("phase"), f"{where}.phase"))


def energy_register(samples: Iterable[MeterSample]) -> float | None:
    """The last energy register reading (Wh) without phase, if any."""
    values = [s for s in samples if s.measurand is Measurand.ENERGY_REGISTER and not s.phase]
    return max(values, key=lambda s: s.at).value if values else None


def answered_status(response: dict[str, Any] | None, info: str) -> str | None:
    """`response.<info>.status` (idTagInfo in 1.6, idTokenInfo in 2.0.1), when there."""
    found = (response or {}).get(info)
    status = found.get("status") if isinstance(found, dict) else None
    return status if isinstance(status, str) else None
