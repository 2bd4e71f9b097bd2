"""A pooled connection unused for a while is pinged at checkout (a dead one is replaced
without failing the caller); one in constant use is not pinged."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, exc, text

from save_server.infrastructure.db.engine import make_engine


def _broken_idle_connection(engine: Engine, url: str) -> None:
    """Leave the pool's one connection checked in, its server backend terminated."""
    with engine.connect() as db:
        pid = db.execute(text("SELECT pg_backend_pid()")).scalar_one()
    other = make_engine(url)
    try:
        with other.connect() as db:
            assert db.execute(text("SELECT pg_terminate_backend(:pid)"),
                              {"pid": pid}).scalar_one()
    finally:
        other.dispose()


def test_an_idle_connection_is_pinged_and_replaced(postgres_url: str) -> None:
    engine = make_engine(postgres_url, idle_ping_seconds=0.0)
    try:
        _broken_idle_connection(engine, postgres_url)
        with engine.connect() as db:  # the broken connection: pinged, replaced
            assert db.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_connection_in_constant_use_is_not_pinged(postgres_url: str) -> None:
    engine = make_engine(postgres_url, idle_ping_seconds=3600.0)
    try:
        _broken_idle_connection(engine, postgres_url)
        with pytest.raises(exc.OperationalError), engine.connect() as db:
            db.execute(text("SELECT 1"))  # not pinged: the caller sees the broken connection
        with engine.connect() as db:  # the pool discarded it
            assert db.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_the_ping_does_not_hide_other_errors(postgres_url: str) -> None:
    engine = make_engine(postgres_url, idle_ping_seconds=0.0)
    try:
        with pytest.raises(exc.ProgrammingError), engine.connect() as db:
            db.execute(text("SELECT * FROM no_such_table"))
    finally:
        engine.dispose()
