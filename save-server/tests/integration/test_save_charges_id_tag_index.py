"""Migration 0015: the expression index on charges (lower(id_tag), stopped) applies over data
and comes off again on SQLite and PostgreSQL, matches the table the code declares, and the
running charges of a tag (asked at every charge start and stop) are found through it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, insert, text

from save_server.infrastructure.db.engine import alembic_config, migrate
from save_server.infrastructure.db.tables import charges, metadata
from save_server.infrastructure.id_tags.charges import running_charges

pytestmark = pytest.mark.integration
BEFORE = "0014_id_tag_groups_evse_types"
INDEX = "ix_charges_lower_id_tag_stopped"
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, not migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migration.sqlite3'}"
        return
    postgres_database: Callable[..., Any] = request.getfixturevalue("postgres_database")
    with postgres_database("save_migration") as url:
        yield url


def charge(n: int, id_tag: str | None, stopped: bool, station: str = "CP") -> dict[str, Any]:
    return {"station_id": f"{station}-{n % 7}", "transaction_id": str(n), "connector_id": 1,
            "id_tag": id_tag, "started_at": T0 + timedelta(minutes=n), "stopped": stopped,
            "status": "ended" if stopped else "charging",
            "sort_at": T0 + timedelta(minutes=n)}


def add_charges(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as db:
        db.execute(insert(charges), rows)


def index_definition(db: Connection) -> str | None:
    if db.dialect.name == "postgresql":
        return db.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                          {"name": INDEX}).scalar()
    return db.execute(text("SELECT sql FROM sqlite_master WHERE type = 'index' AND "
                           "name = :name"), {"name": INDEX}).scalar()


def running_of(engine: Engine, keys: list[str]) -> dict[str, list[dict[str, str]]]:
    with engine.connect() as db:
        return running_charges(db, keys)


def test_the_index_applies_over_existing_charges_and_comes_off_again(empty_url: str) -> None:
    migrate(empty_url, BEFORE)
    engine = create_engine(empty_url)
    add_charges(engine, [charge(1, "Card-A", False), charge(2, "CARD-a", True),
                         charge(3, None, False), charge(4, "card-b", False)])
    with engine.connect() as db:
        assert index_definition(db) is None
    before = running_of(engine, ["card-a", "card-b"])
    migrate(empty_url)
    with engine.connect() as db:
        definition = (index_definition(db) or "").lower()
        assert "lower(" in definition and "id_tag" in definition and "stopped" in definition
    assert running_of(engine, ["card-a", "card-b"]) == before == {
        "card-a": [{"charging_station_id": "CP-1", "transaction_id": "1"}],
        "card-b": [{"charging_station_id": "CP-4", "transaction_id": "4"}]}
    command.downgrade(alembic_config(empty_url), BEFORE)
    with engine.connect() as db:
        assert index_definition(db) is None
    migrate(empty_url)
    with engine.connect() as db:
        assert index_definition(db) is not None
    engine.dispose()


def test_the_migrated_schema_matches_the_declared_tables_on_postgresql(
        postgres_url: str) -> None:
    """SQLite cannot reflect an expression index (the SQLite drift test skips it); PostgreSQL
    compares it."""
    engine = create_engine(postgres_url)
    with engine.connect() as db:
        assert compare_metadata(MigrationContext.configure(db), metadata) == []
    engine.dispose()


def plan_of_running_charges(db: Connection, keys: list[str]) -> str:
    """The plan of the query `running_charges` sends, as the database explains it."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(db, "before_cursor_execute", capture)
    try:
        running_charges(db, keys)
    finally:
        event.remove(db, "before_cursor_execute", capture)
    [(statement, parameters)] = sent
    explain = "EXPLAIN " if db.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    rows = db.exec_driver_sql(explain + statement, parameters).all()
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


def test_a_tags_running_charges_are_found_through_the_index(database_url: str) -> None:
    """Half of the charges run (the `stopped` index narrows little), over 200 tags: the plan
    looks the tag's key up in the new index."""
    engine = create_engine(database_url)
    prefix = uuid.uuid4().hex[:6]
    add_charges(engine, [charge(n, f"{prefix}-Tag-{n % 200}", n % 2 == 0, f"IX{prefix}")
                         for n in range(4000)])
    with engine.connect() as db:
        db.exec_driver_sql("ANALYZE")
        if db.dialect.name == "postgresql":
            db.exec_driver_sql("SET LOCAL enable_seqscan = off")  # whatever the table's size
        plan = plan_of_running_charges(db, [f"{prefix}-tag-1", f"{prefix}-tag-3"])
    engine.dispose()
    assert INDEX in plan, plan
