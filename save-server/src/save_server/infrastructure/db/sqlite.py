"""SQLite: one writer at a time, so a transaction that writes takes the database's write lock
up front instead of locking rows; every statement goes through SQLAlchemy."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql import Insert

from save_server.domain.model import Station
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.mapping import report_from_row
from save_server.infrastructure.db.statements import MERGED_CONNECTION_COLUMNS, SqlStatements

REPORT_CONDITIONS_PER_QUERY = 200
_PICK = {"least": func.min, "greatest": func.max}  # SQLite's two-argument forms


class SqliteStatements(SqlStatements):
    def insert(self, table: Table) -> Insert:
        return sqlite.insert(table)

    def take_write_lock(self) -> None:
        # A deferred transaction that reads and then writes fails at once (SQLITE_BUSY) when
        # another writer committed in between.
        self.db.exec_driver_sql("BEGIN IMMEDIATE")

    def lock_stations(self, station_ids: Collection[str]) -> list[tuple[str, int]]:
        s = tables.stations.c  # locked already: the transaction holds the write lock
        return [(row[0], row[1]) for row in self.db.execute(
            select(s.station_id, s.revision).where(s.station_id.in_(list(station_ids)))
            .order_by(s.station_id))]

    def load_reports(self, stations: Mapping[str, Station]) -> None:
        r = tables.connector_status_reports.c
        conditions = []
        for station in stations.values():
            for connector in station.connectors.values():
                condition = and_(r.station_id == station.station_id,
                                 r.connector_id == connector.connector_id)
                if connector.history_horizon is not None:
                    condition = and_(condition, r.reported_at >= connector.history_horizon)
                conditions.append(condition)
        for start in range(0, len(conditions), REPORT_CONDITIONS_PER_QUERY):
            chunk = conditions[start:start + REPORT_CONDITIONS_PER_QUERY]
            query = select(tables.connector_status_reports).where(or_(*chunk)).order_by(r.id)
            for row in self.db.execute(query).mappings():
                connector = stations[row["station_id"]].connectors[row["connector_id"]]
                connector.reports.append(report_from_row(row))

    def seen_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        c = tables.processed_events.c
        return set(self.db.execute(select(c.event_id).where(c.event_id.in_(list(event_ids))))
                   .scalars())

    def insert_rows(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        self.db.execute(table.insert(), list(rows))

    def upsert(self, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]) -> None:
        statement = self.insert(table)
        updates = {k: statement.excluded[k] for k in rows[0] if k not in keys}  # type: ignore[attr-defined]
        if updates:
            statement = statement.on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=keys, set_=updates)
        else:
            statement = statement.on_conflict_do_nothing(index_elements=keys)  # type: ignore[attr-defined]
        self._execute_many(statement, table, keys, rows)

    def update_rows(self, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            values = {c: v for c, v in row.items() if c != key}
            groups.setdefault(tuple(sorted(values)), []).append({**values, "_key": row[key]})
        for group in groups.values():
            self.db.execute(update(table).where(table.c[key] == bindparam("_key")), group)

    def merge_connections(self, rows: Sequence[dict[str, Any]]) -> None:
        table = tables.station_connections
        statement = self.insert(table)
        new = statement.excluded  # type: ignore[attr-defined]

        def merged(pick: str, name: str) -> Any:
            old_value, new_value = table.c[name], new[name]
            return _PICK[pick](func.coalesce(old_value, new_value),
                               func.coalesce(new_value, old_value))

        keys = ["station_id", "connection_id"]
        self._execute_many(statement.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=keys,
            set_={name: merged(pick, name) for name, pick in MERGED_CONNECTION_COLUMNS}),
            table, keys, rows)

    def _execute_many(self, statement: Any, table: Table, keys: list[str],
                      rows: Sequence[dict[str, Any]]) -> None:
        """An upsert of many rows as multi-row statements: SQLAlchemy batches an executemany
        of INSERT … ON CONFLICT into VALUES pages only with RETURNING (without it, one
        statement per row). Safe here because a batch never holds one key twice."""
        self.db.execute(statement.returning(*(table.c[k] for k in keys)), list(rows)).close()
