"""Multi-row writes straight through psycopg2 on PostgreSQL: the worker writes thousands of
rows a second, and SQLAlchemy's executemany costs more Python per row (parameter dicts, type
processing, statement pages) than the database takes to store it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg2.extras import execute_values
from sqlalchemy import Table
from sqlalchemy.engine import Connection as DbConnection

PAGE_SIZE = 1000


def bulk_insert(db: DbConnection, table: str, columns: Sequence[str],
                rows: Sequence[dict[str, Any]], suffix: str = "") -> None:
    """`INSERT INTO <table> AS t (columns) VALUES … <suffix>` in the connection's transaction.
    Values go to psycopg2 as they are: times must be timezone-aware (the domain's are UTC),
    which `UTCDateTime` would otherwise have ensured."""
    sql = f"INSERT INTO {table} AS t ({', '.join(columns)}) VALUES %s {suffix}"
    values = [tuple(row[c] for c in columns) for row in rows]
    cursor = db.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        execute_values(cursor, sql, values, page_size=PAGE_SIZE)
    finally:
        cursor.close()


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
        values = [tuple(row[c] for c in columns) for row in group]
        sql = (f"UPDATE {table.name} AS t SET {assignments} FROM (VALUES %s) AS v("
               f"{', '.join(columns)}) WHERE t.{key} = v.{key}")
        cursor = db.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            execute_values(cursor, sql, values, page_size=PAGE_SIZE)
        finally:
            cursor.close()


def fetch_all(db: DbConnection, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
    """A read in the connection's transaction straight through psycopg2 (PostgreSQL only): no
    statement compilation nor result processing for the worker's per-batch lookups. Values
    come back as psycopg2 gives them (aware datetimes for `timestamptz`)."""
    cursor = db.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, parameters)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def insert_rows(db: DbConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Plain multi-row INSERT: psycopg2 on PostgreSQL, SQLAlchemy elsewhere."""
    if db.dialect.name == "postgresql":
        bulk_insert(db, table.name, list(rows[0]), rows)
    else:
        db.execute(table.insert(), rows)
