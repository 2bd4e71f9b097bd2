"""The composition root: builds the object graph from `Settings` and picks the adapters.
The process entry points (signals, uvicorn, loops, the embedded service) are in `entrypoints`."""

from __future__ import annotations

import contextlib
import pathlib
import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from event_store.config import Settings
from event_store.domain.ports import EventStorage, ReplayPublisher
from event_store.infrastructure.api.app import create_app
from event_store.infrastructure.probes import CachedCheck, Check, start_probe_server
from event_store.infrastructure.sqlite_storage import SqliteEventStorage
from event_store.infrastructure.worker import WorkerProbe
from event_store.service.replay import ReplayService
from event_store.service.retention import run_retention

EMBEDDED_PUBLIC_KEY_FILE = "auth-public-key.pem"  # written by save-server in DATA_DIR
READY_CACHE_SECONDS = 5.0  # a probe storm costs one AMQP connection per this many seconds
LIVENESS_SECONDS = 60.0  # the fetch loop ticks at least every few seconds


def build_storage(settings: Settings) -> EventStorage:
    """MongoDB when `MONGO_URL` is set, else the SQLite file (indexes created now)."""
    if settings.mongo_url:
        from event_store.infrastructure.mongo_storage import MongoEventStorage

        return MongoEventStorage.connect(settings.mongo_url, settings.mongo_db,
                                         settings.event_store_retention_days)
    return SqliteEventStorage(settings.sqlite_path)


def build_app(storage: EventStorage,
              publisher_factory: Callable[[], ReplayPublisher] | None,
              broker_ready: Check | None = None,
              public_keys_file: pathlib.Path | None = None) -> FastAPI:
    """The API; `broker_ready` is the broker half of its /ready (None: not checked).
    Callers are checked against the account events in `storage`; access tokens against
    save-server's public key(s) in `public_keys_file` (none: only API keys work)."""
    from event_store.infrastructure.tokens import JwtVerifier
    from event_store.service.authentication import Authenticator

    replays = ReplayService(storage, publisher_factory) if publisher_factory else None
    authenticator = Authenticator(storage, JwtVerifier(
        public_keys_file or pathlib.Path("/nonexistent/auth-public-key.pem")))
    with contextlib.suppress(Exception):  # else the refresher loads it
        authenticator.refresh()
    app = create_app(storage, replays, authenticator)
    app.state.broker_ready = broker_ready
    return app


def amqp_ready(settings: Settings) -> Check | None:
    """AMQP_URL's RabbitMQ answers (one connection at most every READY_CACHE_SECONDS)."""
    url = settings.amqp_url
    if not url:
        return None
    from event_store.infrastructure.rabbitmq import broker_reachable

    return CachedCheck(lambda: broker_reachable(url), READY_CACHE_SECONDS)


def storage_ready(storage: EventStorage) -> bool:
    storage.ping()
    return True


def start_worker_probes(settings: Settings, storage: EventStorage, probe: WorkerProbe,
                        port: int) -> Any:
    """/metrics, /health (fetch loop ticked within LIVENESS_SECONDS), /ready (an open feed,
    the storage answers) on `port`."""
    return start_probe_server(
        settings.event_store_host, port, lambda: probe.heartbeat.age() < LIVENESS_SECONDS,
        {"broker": lambda: probe.connected,
         "database": CachedCheck(lambda: storage_ready(storage), READY_CACHE_SECONDS)})


def rabbitmq_publisher_factory(settings: Settings) -> Callable[[], ReplayPublisher] | None:
    if not settings.amqp_url:
        return None
    from event_store.infrastructure.rabbitmq_replay import PikaReplayPublisher

    url, exchange = settings.amqp_url, settings.amqp_exchange
    return lambda: PikaReplayPublisher(url, exchange)


def start_retention(settings: Settings, storage: EventStorage,
                    stop: threading.Event) -> threading.Thread | None:
    days = settings.event_store_retention_days
    if days is None:
        return None
    thread = threading.Thread(
        target=run_retention, name="event-store-retention", daemon=True,
        args=(storage, days, settings.event_store_retention_interval_seconds, stop))
    thread.start()
    return thread
