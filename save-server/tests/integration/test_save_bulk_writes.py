"""The worker's multi-row writes on PostgreSQL (`infrastructure/db/postgresql.py`) outside a
unit of work's commit: rows stored exactly, and a lost connection raised as SQLAlchemy's
error — the worker retries those; a raw psycopg2 error would be taken for a poison message
and dead-lettered."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from save_server.infrastructure.db.engine import make_engine
from save_server.infrastructure.db.postgresql import PostgresStatements


def test_rows_written_at_once_are_stored_exactly(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as db:
            db.execute(text("CREATE TEMP TABLE bulk_rows (id int PRIMARY KEY, name text)"))
            rows = [{"id": 1, "name": "50 % l'été"}, {"id": 2, "name": None}]
            PostgresStatements(db).bulk_insert("bulk_rows", ["id", "name"], rows)
            stored = db.execute(text("SELECT id, name FROM bulk_rows ORDER BY id")).all()
        assert [tuple(row) for row in stored] == [(1, "50 % l'été"), (2, None)]
    finally:
        engine.dispose()


def test_a_lost_connection_is_a_sqlalchemy_error(postgres_url: str) -> None:
    engine, other = make_engine(postgres_url), make_engine(postgres_url)
    try:
        with engine.connect() as db:
            pid = db.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with other.connect() as killer:
                assert killer.execute(text("SELECT pg_terminate_backend(:pid)"),
                                      {"pid": pid}).scalar_one()
            with pytest.raises(exc.DBAPIError) as raised:
                PostgresStatements(db).bulk_insert("stations", ["station_id"],
                                                   [{"station_id": "CP-lost"}])
        assert raised.value.connection_invalidated
    finally:
        engine.dispose()
        other.dispose()
