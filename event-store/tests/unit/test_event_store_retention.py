"""Optional retention: off by default; periodic delete for SQLite (TTL index for MongoDB is
covered in test_mongo_adapter_on_mongomock.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from event_store.bootstrap import start_retention
from event_store.config import Settings
from event_store.domain.queries import EventQuery
from event_store.service.retention import purge_expired, run_retention

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_retention_is_off_by_default(monkeypatch, sqlite_storage):
    monkeypatch.delenv("EVENT_STORE_RETENTION_DAYS", raising=False)
    settings = Settings()
    assert settings.event_store_retention_days is None
    assert start_retention(settings, sqlite_storage, threading.Event()) is None


def test_retention_days_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("EVENT_STORE_RETENTION_DAYS", "30")
    assert Settings().event_store_retention_days == 30


def test_purge_deletes_only_events_older_than_the_retention(sqlite_storage, make_event):
    old = make_event(received_at=NOW - timedelta(days=31))
    recent = make_event(received_at=NOW - timedelta(days=29))
    sqlite_storage.save_many([old, recent])
    assert purge_expired(sqlite_storage, 30, NOW) == 1
    assert [e.event_id for e in sqlite_storage.find(EventQuery())] == [recent.event_id]
    assert purge_expired(sqlite_storage, 30, NOW) == 0


def test_periodic_retention_runs_until_stopped(sqlite_storage, make_event):
    clock_calls: list[datetime] = []
    old = make_event(received_at=NOW - timedelta(days=8))
    sqlite_storage.save_many([old])
    stop = threading.Event()

    def clock() -> datetime:
        clock_calls.append(NOW)
        if len(clock_calls) >= 3:
            stop.set()
        return NOW

    thread = threading.Thread(target=run_retention,
                              args=(sqlite_storage, 7, 0.01, stop, clock))
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert len(clock_calls) == 3
    assert sqlite_storage.get(old.event_id) is None
