"""`python -m event_store import-sqlite PATH`: an embedded event store's SQLite file copied into
the configured storage (moving a site up), batched and idempotent by event id. Against the
SQLite adapter always, against a real MongoDB when MONGO_URL is set."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from event_store.domain.ports import EventStorage
from event_store.domain.queries import EventQuery
from event_store.infrastructure.sqlite_storage import SqliteEventStorage
from event_store.service.importing import copy_events

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MONGO_URL = os.environ.get("MONGO_URL")


@pytest.fixture
def source(tmp_path: Path, make_event) -> Iterator[SqliteEventStorage]:
    """An embedded store with 25 events over three stations and two types (two at one time)."""
    storage = SqliteEventStorage(tmp_path / "embedded" / "event-store.sqlite3")
    storage.save_many([make_event(station=f"CP-{i % 3}", received_at=T0 + timedelta(
        seconds=i // 2), event_type=("ocpp-events.heart-beat" if i % 2
                                     else "ocpp-events.transaction-started"))
        for i in range(25)])
    yield storage
    storage.close()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[SqliteEventStorage]:
    storage = SqliteEventStorage(tmp_path / "services" / "event-store.sqlite3")
    yield storage
    storage.close()


def everything(storage: EventStorage) -> list[tuple[str, str, datetime, str | None, bytes]]:
    found, query = [], EventQuery(limit=7)
    while page := storage.find(query):
        found += [(e.event_id, e.type, e.date, e.charging_station_id, e.body) for e in page]
        query = query.next_page(page[-1])
    return found


def test_every_event_is_copied_with_its_fields_and_body_across_batches(source, target) -> None:
    result = copy_events(source, target, batch_size=4)
    assert (result.read, result.new) == (25, 25)
    assert everything(target) == everything(source)


def test_a_second_run_and_a_partial_earlier_copy_add_nothing_twice(source, target) -> None:
    target.save_many(source.find(EventQuery(limit=10)))  # a copy that stopped half-way
    assert copy_events(source, target, batch_size=6).new == 15
    assert copy_events(source, target, batch_size=6).new == 0
    assert len(everything(target)) == 25


def test_an_empty_source_copies_nothing_and_a_batch_below_one_is_refused(
        tmp_path: Path, target) -> None:
    empty = SqliteEventStorage(tmp_path / "empty.sqlite3")
    try:
        assert (copy_events(empty, target).read, copy_events(empty, target).new) == (0, 0)
        with pytest.raises(ValueError, match="batch size"):
            copy_events(empty, target, batch_size=0)
    finally:
        empty.close()


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("AMQP_URL", "MONGO_URL", "EVENT_STORE_SQLITE_PATH")}
    return subprocess.run([sys.executable, "-m", "event_store", "import-sqlite", *args],
                          env={**environment, **env}, capture_output=True, text=True,
                          timeout=60)


def test_the_command_copies_into_the_configured_storage_and_can_run_again(
        tmp_path: Path, source) -> None:
    path = tmp_path / "embedded" / "event-store.sqlite3"
    configured = tmp_path / "configured.sqlite3"
    first = run_cli(str(path), "--batch-size", "10", EVENT_STORE_SQLITE_PATH=str(configured))
    assert first.returncode == 0, first.stderr
    assert "25 events, 25 new" in first.stdout
    again = run_cli(str(path), EVENT_STORE_SQLITE_PATH=str(configured))
    assert again.returncode == 0 and "25 events, 0 new" in again.stdout
    copied = SqliteEventStorage(configured)
    try:
        assert everything(copied) == everything(source)
    finally:
        copied.close()


@pytest.mark.parametrize(("args", "message"), [
    (("missing.sqlite3",), "no event store file"),
    (("source.sqlite3", "--batch-size", "0"), "--batch-size must be at least 1"),
    (("source.sqlite3",), "is the configured storage itself"),
])
def test_the_command_refuses_a_missing_file_a_bad_batch_and_copying_onto_itself(
        tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    SqliteEventStorage(tmp_path / "source.sqlite3").close()
    result = run_cli(*(str(tmp_path / a) if a.endswith(".sqlite3") else a for a in args),
                     EVENT_STORE_SQLITE_PATH=str(tmp_path / "source.sqlite3"))
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.mongo
@pytest.mark.skipif(not MONGO_URL, reason="MONGO_URL not set: real MongoDB run not executed")
def test_the_copy_into_a_real_mongodb_is_complete_and_idempotent(source) -> None:
    from pymongo import MongoClient

    from event_store.infrastructure.mongo_storage import MongoEventStorage

    database = f"event_store_test_{uuid.uuid4().hex[:10]}"
    mongo = MongoEventStorage.connect(MONGO_URL, database, retention_days=None)
    try:
        assert copy_events(source, mongo, batch_size=4).new == 25
        assert copy_events(source, mongo, batch_size=4).new == 0
        assert everything(mongo) == everything(source)
    finally:
        mongo.close()
        with MongoClient(MONGO_URL) as client:
            client.drop_database(database)
