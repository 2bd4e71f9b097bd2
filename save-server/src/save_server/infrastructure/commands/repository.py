"""SQL adapter of the CommandLog port (PostgreSQL and SQLite)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, select

from save_server.domain.business_events import BusinessEvent
from save_server.domain.station_commands import CommandLog, CommandOutcome, CommandRecord
from save_server.infrastructure.commands.tables import station_commands as table
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.db.tables import stations
from save_server.infrastructure.outbox.writer import add_all_to_outbox


class SqlCommandLog(CommandLog):
    def __init__(self, engine: Engine, statements: type[SqlStatements],
                 on_commit: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._statements = statements
        self._on_commit = on_commit  # wakes the outbox relay

    def station_known(self, station_id: str) -> bool:
        query = select(stations.c.station_id).where(stations.c.station_id == station_id)
        with self._engine.connect() as db:
            return db.execute(query).first() is not None

    def add(self, record: CommandRecord) -> None:
        """One short transaction with its `commands.command-recorded` event (the outbox: a
        replay rebuilds the history), its commit not waiting for the disk where the database
        allows it (PostgreSQL: the WAL flush): a database crash may lose the last fraction of
        a second of history, which the event-store also keeps (`ocpp-commands.*` events); the
        answer to the operator does not wait for a disk."""
        self.add_many([record])

    def add_many(self, records: Sequence[CommandRecord]) -> None:
        """All in one such transaction: at a few hundred profiles a second, one commit each
        was half of the database's commits."""
        if not records:
            return
        rows = [record_row(record) for record in records]
        with self._engine.begin() as db:
            self._statements(db).skip_commit_flush()
            db.execute(table.insert(), rows)
            add_all_to_outbox(db, [BusinessEvent(
                RECORDED, record_document(row), row["requested_by"], record.station_id,
                event_id=str(uuid.uuid4()), occurred_at=record.answered_at)
                for row, record in zip(rows, records, strict=True)])
        self._on_commit()

    def list(self, station_id: str, limit: int) -> list[CommandRecord]:
        query = (select(table).where(table.c.station_id == station_id)
                 .order_by(table.c.requested_at.desc(), table.c.command_id.desc()).limit(limit))
        with self._engine.connect() as db:
            return [_record(row) for row in db.execute(query).mappings()]


RECORDED = "commands.command-recorded"


def record_row(record: CommandRecord) -> dict[str, Any]:
    return {"command_id": record.command_id, "station_id": record.station_id,
            "command": record.command, "parameters": record.parameters,
            "requested_by": record.requested_by[:200], "requested_at": record.requested_at,
            "answered_at": record.answered_at, "outcome": record.outcome.value,
            "status": record.status[:40] if record.status else None, "payload": record.payload,
            "error_code": record.error_code and record.error_code[:50],
            "error_description": record.error_description, "latency_ms": record.latency_ms,
            "ocpp_version": record.ocpp_version, "action": record.action}


def record_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The history row as its event carries it (docs/events.md): times in RFC 3339."""
    document = {k: v for k, v in row.items() if k != "station_id"}
    for name in ("requested_at", "answered_at"):
        if document[name] is not None:
            document[name] = document[name].isoformat().replace("+00:00", "Z")
    return {"charging_station_id": row["station_id"], **document}


def _record(row: Mapping[str, Any]) -> CommandRecord:
    return CommandRecord(
        command_id=row["command_id"], station_id=row["station_id"], command=row["command"],
        parameters=row["parameters"], requested_by=row["requested_by"],
        requested_at=row["requested_at"], outcome=CommandOutcome(row["outcome"]),
        answered_at=row["answered_at"], payload=row["payload"], error_code=row["error_code"],
        error_description=row["error_description"], latency_ms=row["latency_ms"],
        ocpp_version=row["ocpp_version"], action=row["action"])
