"""PostgreSQL: rows locked as they are read (FOR UPDATE), and the worker's multi-row writes
rendered straight through psycopg2: it writes thousands of rows a second, and SQLAlchemy's
executemany costs more Python per row (parameter dicts, type processing, statement pages)
than the database takes to store them.

Inside `batched()` the writes are rendered at once but sent together, as one multi-statement
round trip, when the block ends (a unit of work's commit: one round trip for all its tables
instead of one per table; on a busy machine every round trip also waits for the scheduler
twice)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from psycopg2.extensions import encodings
from sqlalchemy import Integer, String, Table, and_, or_, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection as DbConnection
from sqlalchemy.sql import Insert

from save_server.domain.model import Station
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.mapping import report_from_row
from save_server.infrastructure.db.statements import MERGED_CONNECTION_COLUMNS, SqlStatements
from save_server.infrastructure.db.types import UTCDateTime

_LOCK_STATIONS = ("SELECT station_id, revision FROM stations WHERE station_id = ANY(%s)"
                  " ORDER BY station_id FOR UPDATE")
_SEEN = "SELECT event_id FROM processed_events WHERE event_id = ANY(%s)"
_WANTED_REPORTS = text(
    "SELECT * FROM unnest(CAST(:station_ids AS varchar[]), CAST(:connector_ids AS integer[]),"
    " CAST(:horizons AS timestamptz[])) AS wanted(station_id, connector_id, horizon)",
).columns(station_id=String(), connector_id=Integer(), horizon=UTCDateTime()).subquery("wanted")
_MERGE_CONNECTIONS = "ON CONFLICT (station_id, connection_id) DO UPDATE SET " + ", ".join(
    f"{column} = {pick}(coalesce(t.{column}, EXCLUDED.{column}), "
    f"coalesce(EXCLUDED.{column}, t.{column}))" for column, pick in MERGED_CONNECTION_COLUMNS)


class PostgresStatements(SqlStatements):
    def __init__(self, db: DbConnection) -> None:
        super().__init__(db)
        self._deferred: list[str] | None = None  # inside `batched()`

    def insert(self, table: Table) -> Insert:
        return postgresql.insert(table)

    def take_write_lock(self) -> None:
        """Nothing up front: the rows are locked as they are read (FOR UPDATE)."""

    def skip_commit_flush(self) -> None:
        self.db.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    @contextmanager
    def batched(self) -> Iterator[None]:
        self._deferred = statements = []
        try:
            yield
        finally:
            self._deferred = None
        if statements:  # through SQLAlchemy: its exception types, invalidation on disconnect
            self.db.exec_driver_sql(";\n".join(statements),
                                    execution_options={"no_parameters": True})

    def follow_ids(self, table: Table, column: str = "id") -> None:
        self.db.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
            f"max({column})) FROM {table.name} HAVING max({column}) IS NOT NULL")

    def lock_stations(self, station_ids: Collection[str]) -> list[tuple[str, int]]:
        return [(row[0], row[1]) for row in self._fetch_all(_LOCK_STATIONS, [list(station_ids)])]

    def load_reports(self, stations: Mapping[str, Station]) -> None:
        """One statement of constant shape: the connectors as three arrays joined to the
        (station, connector, reported_at) index."""
        wanted = [(station.station_id, connector.connector_id, connector.history_horizon)
                  for station in stations.values() for connector in station.connectors.values()]
        if not wanted:
            return
        r, w = tables.connector_status_reports.c, _WANTED_REPORTS.c
        query = (select(tables.connector_status_reports)
                 .join(_WANTED_REPORTS, and_(r.station_id == w.station_id,
                                             r.connector_id == w.connector_id,
                                             or_(w.horizon.is_(None),
                                                 r.reported_at >= w.horizon)))
                 .order_by(r.id))
        station_ids, connector_ids, horizons = (list(c) for c in zip(*wanted, strict=True))
        for row in self.db.execute(query, {"station_ids": station_ids,
                                           "connector_ids": connector_ids,
                                           "horizons": horizons}).mappings():
            connector = stations[row["station_id"]].connectors[row["connector_id"]]
            connector.reports.append(report_from_row(row))

    def seen_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        return {row[0] for row in self._fetch_all(_SEEN, [list(event_ids)])}

    def insert_rows(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        self.bulk_insert(table.name, list(rows[0]), rows)

    def upsert(self, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]) -> None:
        columns = list(rows[0])
        updates = [f"{c} = EXCLUDED.{c}" for c in columns if c not in keys]
        self.bulk_insert(table.name, columns, rows, f"ON CONFLICT ({', '.join(keys)}) " + (
            f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"))

    def update_rows(self, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
        """`UPDATE <table> … FROM (VALUES …)`, one statement per set of columns (rows of a
        batch mostly change the same few), each value cast to its column's type (a column
        that is NULL in every row would otherwise be text)."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(sorted(row)), []).append(row)
        for columns, group in groups.items():
            assignments = ", ".join(
                f"{c} = CAST(v.{c} AS {table.c[c].type.compile(self.db.dialect)})"
                for c in columns if c != key)
            sql = (f"UPDATE {table.name} AS t SET {assignments} FROM (VALUES %s) AS v("
                   f"{', '.join(columns)}) WHERE t.{key} = v.{key}")
            self._values(sql, [tuple(row[c] for c in columns) for row in group])

    def merge_connections(self, rows: Sequence[dict[str, Any]]) -> None:
        self.bulk_insert(tables.station_connections.name, list(rows[0]), rows,
                         _MERGE_CONNECTIONS)

    def bulk_insert(self, table: str, columns: Sequence[str], rows: Sequence[dict[str, Any]],
                    suffix: str = "") -> None:
        """`INSERT INTO <table> AS t (columns) VALUES … <suffix>` in the connection's
        transaction. Values go to psycopg2 as they are: times must be timezone-aware (the
        domain's are UTC), which `UTCDateTime` would otherwise have ensured."""
        sql = f"INSERT INTO {table} AS t ({', '.join(columns)}) VALUES %s {suffix}"
        self._values(sql, [tuple(row[c] for c in columns) for row in rows])

    def _values(self, sql: str, values: list[tuple[Any, ...]]) -> None:
        """`sql` with its one `%s` replaced by the rows as a VALUES list: deferred, or now —
        sent through SQLAlchemy either way, so a lost connection raises SQLAlchemy's error
        (the worker retries it) rather than psycopg2's (which it would take for a poison
        message)."""
        cursor = self.db.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            template = "(" + ",".join(["%s"] * len(values[0])) + ")"
            rows = b",".join([cursor.mogrify(template, row) for row in values])
            encoding = encodings[cursor.connection.encoding]
        finally:
            cursor.close()
        before, after = sql.split("%s")
        statement = before + rows.decode(encoding) + after
        if self._deferred is None:
            self.db.exec_driver_sql(statement, execution_options={"no_parameters": True})
        else:
            self._deferred.append(statement)

    def _fetch_all(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """A read as driver SQL: no statement compilation for the worker's per-batch lookups.
        Values come back as psycopg2 gives them (aware datetimes for `timestamptz`)."""
        return list(self.db.exec_driver_sql(sql, tuple(parameters)).fetchall())
