"""SQLite: one writer at a time, so a transaction that writes takes the database's write lock
up front instead of locking rows; every statement goes through SQLAlchemy."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from functools import cache
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
        # locked already: the transaction holds the write lock
        return [(row[0], row[1]) for row in self.db.execute(
            _station_revisions(), {"ids": list(station_ids)})]

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
        return set(self.db.execute(_seen_events(), {"ids": list(event_ids)}).scalars())

    def insert_rows(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        self.db.execute(table.insert(), list(rows))

    def upsert(self, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]) -> None:
        self._execute_many(_upsert(table.name, tuple(rows[0]), tuple(keys)), rows)

    def update_rows(self, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            values = {c: v for c, v in row.items() if c != key}
            groups.setdefault(tuple(sorted(values)), []).append({**values, "_key": row[key]})
        for group in groups.values():
            self.db.execute(_update_by(table.name, key), group)

    def merge_connections(self, rows: Sequence[dict[str, Any]]) -> None:
        self._execute_many(_merge_connections(), rows)

    def _execute_many(self, statement: Any, rows: Sequence[dict[str, Any]]) -> None:
        """An upsert of many rows as multi-row statements (`statement` has RETURNING:
        SQLAlchemy batches an executemany of INSERT … ON CONFLICT into VALUES pages only with
        it; without it, one statement per row). Safe here because a batch never holds one key
        twice."""
        self.db.execute(statement, list(rows)).close()


# The statements of the worker's every batch, built once: building them (columns, `excluded`,
# functions) cost the embedded worker about a fifth of its CPU per batch
# (docs/performance-log.md, "Embedded mode: latency"). SQLAlchemy statements are immutable.
@cache
def _station_revisions() -> Any:
    s = tables.stations.c
    return (select(s.station_id, s.revision)
            .where(s.station_id.in_(bindparam("ids", expanding=True))).order_by(s.station_id))


@cache
def _seen_events() -> Any:
    c = tables.processed_events.c
    return select(c.event_id).where(c.event_id.in_(bindparam("ids", expanding=True)))


@cache
def _upsert(table_name: str, columns: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    table = tables.metadata.tables[table_name]
    statement = sqlite.insert(table)
    updates = {k: statement.excluded[k] for k in columns if k not in keys}
    if updates:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=updates)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    return statement.returning(*(table.c[k] for k in keys))


@cache
def _update_by(table_name: str, key: str) -> Any:
    table = tables.metadata.tables[table_name]
    return update(table).where(table.c[key] == bindparam("_key"))


@cache
def _merge_connections() -> Any:
    table = tables.station_connections
    statement = sqlite.insert(table)
    new = statement.excluded

    def merged(pick: str, name: str) -> Any:
        old_value, new_value = table.c[name], new[name]
        return _PICK[pick](func.coalesce(old_value, new_value),
                           func.coalesce(new_value, old_value))

    keys = ["station_id", "connection_id"]
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: merged(pick, name) for name, pick in MERGED_CONNECTION_COLUMNS},
    ).returning(*(table.c[k] for k in keys))
