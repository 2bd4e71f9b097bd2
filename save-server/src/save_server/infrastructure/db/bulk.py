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
