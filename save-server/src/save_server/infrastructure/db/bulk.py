"""Multi-row writes straight through psycopg2 on PostgreSQL: the worker writes thousands of
rows a second, and SQLAlchemy's executemany costs more Python per row (parameter dicts, type
processing, statement pages) than the database takes to store it.

Inside `deferred_writes(db)` the writes are rendered at once but sent together, as one
multi-statement round trip, when the block ends (a unit of work's commit: one round trip for
all its tables instead of one per table; on a busy machine every round trip also waits for
the scheduler twice)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from psycopg2.extensions import encodings
from sqlalchemy import Table
from sqlalchemy.engine import Connection as DbConnection

_deferred: weakref.WeakKeyDictionary[DbConnection, list[str]] = weakref.WeakKeyDictionary()


@contextmanager
def deferred_writes(db: DbConnection) -> Iterator[None]:
    """PostgreSQL: `bulk_insert` and `update_rows` on `db` inside the block are sent in one
    `exec_driver_sql` at its end, in the order they were issued (nothing is sent when the
    block raises). Elsewhere a no-op."""
    if db.dialect.name != "postgresql":
        yield
        return
    statements = _deferred[db] = []
    try:
        yield
    finally:
        del _deferred[db]
    if statements:  # through SQLAlchemy: its exception types, invalidation on disconnect
        db.exec_driver_sql(";\n".join(statements), execution_options={"no_parameters": True})


def _values(db: DbConnection, sql: str, values: list[tuple[Any, ...]]) -> None:
    """`sql` with its one `%s` replaced by the rows as a VALUES list: deferred, or now —
    sent through SQLAlchemy either way, so a lost connection raises SQLAlchemy's error (the
    worker retries it) rather than psycopg2's (which it would take for a poison message)."""
    cursor = db.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        template = "(" + ",".join(["%s"] * len(values[0])) + ")"
        rows = b",".join([cursor.mogrify(template, row) for row in values])
        encoding = encodings[cursor.connection.encoding]
    finally:
        cursor.close()
    before, after = sql.split("%s")
    statement = before + rows.decode(encoding) + after
    statements = _deferred.get(db)
    if statements is None:
        db.exec_driver_sql(statement, execution_options={"no_parameters": True})
    else:
        statements.append(statement)


def bulk_insert(db: DbConnection, table: str, columns: Sequence[str],
                rows: Sequence[dict[str, Any]], suffix: str = "") -> None:
    """`INSERT INTO <table> AS t (columns) VALUES … <suffix>` in the connection's transaction.
    Values go to psycopg2 as they are: times must be timezone-aware (the domain's are UTC),
    which `UTCDateTime` would otherwise have ensured."""
    sql = f"INSERT INTO {table} AS t ({', '.join(columns)}) VALUES %s {suffix}"
    _values(db, sql, [tuple(row[c] for c in columns) for row in rows])


def update_rows(db: DbConnection, table: Table, key: str,
                rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL: `UPDATE <table> … FROM (VALUES …)` matching `key`, one statement per set of
    columns (rows of a batch mostly change the same few), each value cast to its column's
    type (a column that is NULL in every row would otherwise be text)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for columns, group in groups.items():
        assignments = ", ".join(
            f"{c} = CAST(v.{c} AS {table.c[c].type.compile(db.dialect)})"
            for c in columns if c != key)
        sql = (f"UPDATE {table.name} AS t SET {assignments} FROM (VALUES %s) AS v("
               f"{', '.join(columns)}) WHERE t.{key} = v.{key}")
        _values(db, sql, [tuple(row[c] for c in columns) for row in group])


def fetch_all(db: DbConnection, sql: str, parameters: Sequence[Any]) -> list[Any]:
    """A read in the connection's transaction as driver SQL (PostgreSQL only): no statement
    compilation for the worker's per-batch lookups. Values come back as psycopg2 gives them
    (aware datetimes for `timestamptz`)."""
    return list(db.exec_driver_sql(sql, tuple(parameters)).fetchall())


def insert_rows(db: DbConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Plain multi-row INSERT: psycopg2 on PostgreSQL, SQLAlchemy elsewhere."""
    if db.dialect.name == "postgresql":
        bulk_insert(db, table.name, list(rows[0]), rows)
    else:
        db.execute(table.insert(), rows)
