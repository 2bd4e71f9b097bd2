"""The embedded event-store's ingest worker alone, for a consumer process of csms_embedded.

A composition root of its own because that process runs nothing else: it imports the worker's
modules only (no API, no FastAPI), which keeps the process small (docs/performance.md,
"Embedded mode"). `event_store.entrypoints` wires the same worker as a thread of the embedded
service when the consumers run in the launcher.
"""

from __future__ import annotations

import pathlib
import threading
from typing import Any

import structlog

from event_store.config import Settings
from event_store.infrastructure.embedded_broker import EmbeddedEventFeed
from event_store.infrastructure.logs import configure_logging
from event_store.infrastructure.sqlite_storage import SqliteEventStorage
from event_store.infrastructure.worker import BatchPolicy, IngestWorker

log = structlog.get_logger("event_store")


def batch_policy(settings: Settings) -> BatchPolicy:
    return BatchPolicy(max_messages=settings.event_store_batch_size,
                       max_wait=settings.event_store_batch_max_wait_ms / 1000)


def keep_running(worker: IngestWorker, stop: threading.Event) -> None:
    """The worker until `stop`; a failure is logged and the worker started again."""
    while not stop.is_set():
        try:
            worker.run(stop)
        except Exception:
            log.exception("event_store.embedded_worker_failed")
            stop.wait(1.0)


def run_embedded_worker(broker: Any, data_dir: pathlib.Path, stop: threading.Event) -> None:
    """`broker`: the consumer process's journal reader; the launcher's EmbeddedEventStore
    declared the queue."""
    settings = Settings(data_dir=data_dir)
    configure_logging(settings.log_format, settings.log_level)
    storage = SqliteEventStorage(settings.sqlite_path)
    feed = EmbeddedEventFeed(broker, settings.event_store_queue, settings.amqp_exchange,
                             settings.dead_letter_queue)
    try:
        keep_running(IngestWorker(feed, storage, batch_policy(settings)), stop)
    finally:
        storage.close()
