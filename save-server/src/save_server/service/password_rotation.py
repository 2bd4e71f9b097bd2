"""Rotating a station's Basic Auth password: generate, push to the connected station, and roll
back when the station refuses it, so a station is never left with a password it does not have.

OCPP 1.6 (Security Whitepaper): ChangeConfiguration `AuthorizationKey`, the password hex-encoded.
OCPP 2.0.1: SetVariables `SecurityCtrlr.BasicAuthPassword`. The first that the station's
version supports is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from save_server.domain.station_commands import CommandOutcome, CommandRecord
from save_server.service.registry import Registered, RegistryService
from save_server.service.station_commands import StationCommands
from save_server.service.stations import StationNotFound

REFUSED = {CommandOutcome.REJECTED, CommandOutcome.CALL_ERROR, CommandOutcome.UNSUPPORTED,
           CommandOutcome.NOT_CONNECTED}


@dataclass(frozen=True)
class Rotation:
    outcome: str  # "pushed", "rolled-back", "unconfirmed"
    registered: Registered | None
    detail: str
    command: CommandRecord | None


def push_commands(password: str) -> list[tuple[str, dict]]:
    return [("change-configuration", {"key": "AuthorizationKey",
                                      "value": password.encode().hex()}),
            ("set-variables", {"variables": [{"component": "SecurityCtrlr",
                                              "variable": "BasicAuthPassword",
                                              "value": password}]})]


async def rotate_password(registry: RegistryService, commands: StationCommands,
                          station_id: str, by: str) -> Rotation:
    rotated = registry.rotate_password(station_id, by)
    assert rotated.password is not None
    record = None
    try:
        for command, parameters in push_commands(rotated.password):
            record = await commands.send(station_id, command, parameters, by)
            if record.outcome is not CommandOutcome.UNSUPPORTED:
                break
    except StationNotFound:
        record = None
    if record is not None and record.outcome is CommandOutcome.ACCEPTED:
        return Rotation("pushed", rotated, "the station took the new password; the old one "
                        "works until it reconnects with the new one or the grace period ends",
                        record)
    if record is None or record.outcome in REFUSED:
        reason = record.outcome.value if record else "station unknown"
        registry.roll_back_rotation(station_id, by, reason)
        return Rotation("rolled-back", None, f"not changed ({reason}): the old password "
                        "stays in force", record)
    return Rotation("unconfirmed", rotated, "no answer in time: both passwords work until "
                    "the grace period ends; rotate again once the station answers", record)
