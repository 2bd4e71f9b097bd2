"""Optional retention: delete events older than the configured number of days."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from event_store.domain.ports import EventStorage

log = structlog.get_logger(__name__)


def purge_expired(storage: EventStorage, retention_days: int, now: datetime) -> int:
    """Delete every event dated more than `retention_days` before `now`."""
    deleted = storage.delete_older_than(now - timedelta(days=retention_days))
    if deleted:
        log.info("event_store.retention_purged", deleted=deleted, retention_days=retention_days)
    return deleted


def run_retention(storage: EventStorage, retention_days: int, interval: float,
                  stop: threading.Event,
                  clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    """Purge at start and then every `interval` seconds until `stop` is set."""
    while not stop.is_set():
        try:
            purge_expired(storage, retention_days, clock())
        except Exception:
            log.exception("event_store.retention_failed")
        stop.wait(interval)
