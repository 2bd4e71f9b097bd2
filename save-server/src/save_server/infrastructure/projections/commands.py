"""`commands.command-recorded` back into the command history (each event carries its row whole;
a recorded command never changes, so an existing row is kept as it is)."""

from __future__ import annotations

from sqlalchemy import select

from save_server.domain.commands import ProjectBusinessEvent
from save_server.infrastructure.commands.tables import station_commands
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.projections.common import moment, required

TYPES = ("commands.command-recorded",)

FIELDS = ("command_id", "charging_station_id", "command", "parameters", "requested_by",
          "requested_at", "answered_at", "outcome", "status", "payload", "error_code",
          "error_description", "latency_ms", "ocpp_version", "action")


def project(sql: SqlStatements, command: ProjectBusinessEvent) -> None:
    payload = command.payload
    required(payload, *FIELDS)
    t = station_commands.c
    if sql.db.execute(select(t.command_id).where(
            t.command_id == payload["command_id"])).first() is not None:
        return
    row = {name: payload[name] for name in FIELDS if name != "charging_station_id"}
    row.update(station_id=payload["charging_station_id"],
               requested_at=moment(payload["requested_at"]),
               answered_at=moment(payload["answered_at"]))
    sql.db.execute(station_commands.insert().values(row))
