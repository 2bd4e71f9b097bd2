"""SQL adapter of the CommandLog port (PostgreSQL and SQLite)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from save_server.domain.station_commands import CommandLog, CommandOutcome, CommandRecord
from save_server.infrastructure.commands.tables import station_commands as table
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.db.tables import stations


class SqlCommandLog(CommandLog):
    def __init__(self, engine: Engine, statements: type[SqlStatements]) -> None:
        self._engine = engine
        self._statements = statements

    def station_known(self, station_id: str) -> bool:
        query = select(stations.c.station_id).where(stations.c.station_id == station_id)
        with self._engine.connect() as db:
            return db.execute(query).first() is not None

    def add(self, record: CommandRecord) -> None:
        """One short transaction, its commit not waiting for the disk where the database
        allows it (PostgreSQL: the WAL flush): a database crash may lose the last fraction of a
        second of history, which the event-store also keeps (`ocpp-commands.*` events); the
        answer to the operator does not wait for a disk."""
        with self._engine.begin() as db:
            self._statements(db).skip_commit_flush()
            db.execute(table.insert().values(
                command_id=record.command_id, station_id=record.station_id,
                command=record.command, parameters=record.parameters,
                requested_by=record.requested_by[:200], requested_at=record.requested_at,
                answered_at=record.answered_at, outcome=record.outcome.value,
                status=record.status[:40] if record.status else None, payload=record.payload,
                error_code=record.error_code and record.error_code[:50],
                error_description=record.error_description, latency_ms=record.latency_ms,
                ocpp_version=record.ocpp_version, action=record.action))

    def list(self, station_id: str, limit: int) -> list[CommandRecord]:
        query = (select(table).where(table.c.station_id == station_id)
                 .order_by(table.c.requested_at.desc(), table.c.command_id.desc()).limit(limit))
        with self._engine.connect() as db:
            return [_record(row) for row in db.execute(query).mappings()]


def _record(row: Mapping[str, Any]) -> CommandRecord:
    return CommandRecord(
        command_id=row["command_id"], station_id=row["station_id"], command=row["command"],
        parameters=row["parameters"], requested_by=row["requested_by"],
        requested_at=row["requested_at"], outcome=CommandOutcome(row["outcome"]),
        answered_at=row["answered_at"], payload=row["payload"], error_code=row["error_code"],
        error_description=row["error_description"], latency_ms=row["latency_ms"],
        ocpp_version=row["ocpp_version"], action=row["action"])
