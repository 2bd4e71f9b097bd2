"""Business rules as data: each rule lives here once, so a business change is a one-line change."""

from __future__ import annotations

from enum import StrEnum


class ConnectorStatus(StrEnum):
    AVAILABLE = "available"
    IN_USE = "in_use"
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    FAULTED = "faulted"


class StationStatus(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class ChargeStatus(StrEnum):
    CHARGING = "charging"
    FINISHED = "finished"
    ERROR = "error"


class Measurand(StrEnum):
    """Technical readings kept per station (latest value of each, per phase)."""

    VOLTAGE = "voltage"
    CURRENT_OFFERED = "current_offered"
    CURRENT_IMPORTED = "current_imported"
    POWER = "power"
    ENERGY_REGISTER = "energy_register"
    TEMPERATURE = "temperature"
    SOC = "soc"
    FREQUENCY = "frequency"


# Stop reasons whose charge ended normally; any other reason means the charge ended in error.
# `None` is "no reason given", which the thesis treats as a normal end (4.4.3).
FINISHED_STOP_REASONS: frozenset[str | None] = frozenset({None, "Local", "Remote"})

# The connector number that stands for the station itself (its availability, not a connector).
STATION_CONNECTOR_ID = 0

# A station booting makes each of its connectors available (thesis table 4.1).
STATUS_AFTER_BOOT = ConnectorStatus.AVAILABLE

# A charge started on a connector makes it in use until the charge ends; its end makes it
# available again (unless a later status report says otherwise).
STATUS_WHILE_CHARGING = ConnectorStatus.IN_USE
STATUS_AFTER_CHARGE = ConnectorStatus.AVAILABLE

# An OCPP 2.0.1 EVSE with several connectors shows the first of these statuses that any of its
# connectors has: occupied if any connector is, faulted only if all are.
EVSE_STATUS_PRECEDENCE: tuple[ConnectorStatus, ...] = (
    ConnectorStatus.IN_USE, ConnectorStatus.RESERVED, ConnectorStatus.AVAILABLE,
    ConnectorStatus.UNAVAILABLE, ConnectorStatus.FAULTED)

# Operator-entered coordinates, decimal degrees.
LATITUDE_RANGE = (-90.0, 90.0)
LONGITUDE_RANGE = (-180.0, 180.0)


def charge_status_for(stopped: bool, stop_reason: str | None) -> ChargeStatus:
    """A charge is `charging` until its stop is known, then `finished` or `error` by reason."""
    if not stopped:
        return ChargeStatus.CHARGING
    if stop_reason in FINISHED_STOP_REASONS:
        return ChargeStatus.FINISHED
    return ChargeStatus.ERROR


def in_range(value: float, bounds: tuple[float, float]) -> bool:
    low, high = bounds
    return low <= value <= high
