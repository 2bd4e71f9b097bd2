"""Process entry points: `python -m event_store api|worker` (signals, uvicorn, the worker's
reconnect loop) and the embedded event store the `csms_embedded` launcher starts and stops.
The objects come from `bootstrap`."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

from event_store.bootstrap import (
    EMBEDDED_PUBLIC_KEY_FILE,
    amqp_ready,
    build_app,
    build_storage,
    rabbitmq_publisher_factory,
    start_retention,
    start_worker_probes,
)
from event_store.config import Settings
from event_store.embedded_worker import batch_policy, keep_running
from event_store.infrastructure.embedded_broker import (
    EmbeddedEventFeed,
    EmbeddedReplayPublisher,
    InProcessBroker,
)
from event_store.infrastructure.logs import configure_logging
from event_store.infrastructure.sqlite_storage import SqliteEventStorage
from event_store.infrastructure.worker import IngestWorker, WorkerProbe

# the logger name these lines had before the module was split out of bootstrap: log filters
# (and tests/e2e/test_embedded_log_file.py) know it
log = structlog.get_logger("event_store.bootstrap")


def start_credential_refresher(app: FastAPI, stop: threading.Event, interval: float = 1.0,
                               full_every: int = 60) -> threading.Thread:
    """Apply new account events to the API's credential copy every `interval` s, and rebuild
    it from all of them every `full_every` intervals."""

    def loop() -> None:
        ticks = 0
        while not stop.wait(interval):
            ticks += 1
            try:
                app.state.authenticator.refresh(full=ticks % full_every == 0)
            except Exception as error:  # storage away for a while: keep the last copy
                log.warning("event_store.credential_refresh_failed", error=repr(error))

    thread = threading.Thread(target=loop, name="event-store-credentials", daemon=True)
    thread.start()
    return thread


def run_api(settings: Settings | None = None) -> None:
    """`python -m event_store api`: the query and replay API (blocks until SIGINT/SIGTERM)."""
    from event_store.infrastructure.tokens import checked_key_file

    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    keys_file = checked_key_file(settings.auth_public_keys_file)
    storage = build_storage(settings)
    app = build_app(storage, rabbitmq_publisher_factory(settings), amqp_ready(settings),
                    keys_file)
    stop = threading.Event()
    start_credential_refresher(app, stop)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the
    # handler found at start; a no-op handler lets us close the storage and exit with 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    try:
        uvicorn.run(app, host=settings.event_store_host, port=settings.event_store_port,
                    log_config=None, **tls_options(settings))
    finally:
        stop.set()
        if app.state.replays is not None:
            app.state.replays.shutdown()
        storage.close()


def run_worker(settings: Settings | None = None) -> None:
    """`python -m event_store worker`: consume the queue from RabbitMQ into storage."""
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    if not settings.amqp_url:
        raise SystemExit("the worker needs AMQP_URL (embedded mode runs via csms_embedded)")
    from pika.exceptions import AMQPError

    from event_store.infrastructure.rabbitmq import PikaEventFeed

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    storage = build_storage(settings)
    start_retention(settings, storage, stop)
    probe = WorkerProbe()
    if settings.event_store_worker_metrics_port is not None:
        start_worker_probes(settings, storage, probe, settings.event_store_worker_metrics_port)
    try:
        while not stop.is_set():
            probe.heartbeat.beat()
            try:
                feed = PikaEventFeed(settings.amqp_url, settings.event_store_queue,
                                     settings.amqp_exchange, settings.dead_letter_queue,
                                     prefetch=2 * settings.event_store_batch_size)
            except AMQPError as error:
                log.error("event_store.broker_unreachable", error=repr(error))
                stop.wait(2.0)
                continue
            probe.connected = True
            try:
                IngestWorker(probe.watch(feed), storage, batch_policy(settings)).run(stop)
            except AMQPError as error:
                log.error("event_store.broker_connection_lost", error=repr(error))
                stop.wait(2.0)
            finally:
                probe.connected = False
                with contextlib.suppress(AMQPError):
                    feed.close()
    finally:
        storage.close()


def tls_options(settings: Settings) -> dict[str, Any]:
    """HTTPS straight from uvicorn when both files are set (else plain HTTP behind a proxy)."""
    if settings.event_store_tls_cert_file and settings.event_store_tls_key_file:
        return {"ssl_certfile": str(settings.event_store_tls_cert_file),
                "ssl_keyfile": str(settings.event_store_tls_key_file)}
    return {}


class _EmbeddedServer(uvicorn.Server):
    """Leaves signal handling to the embedded launcher."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(f"event-store API cannot listen on {host}:{port}: {error}") from error
    sock.set_inheritable(True)
    return sock


class EmbeddedEventStore:
    """The event-store on csms_embedded's in-process broker and SQLite (the launcher's
    EmbeddedService): the worker as a thread, the API in the launcher's loop. The API produces
    (replays); the worker consumes the queue `consumes`, which the launcher drains before
    `stop`."""

    name = "event-store"

    def __init__(self, broker: Any, data_dir: pathlib.Path,
                 settings: Settings | None = None, worker: bool = True) -> None:
        """`worker=False`: the ingest worker runs elsewhere (csms_embedded's consumer process,
        `event_store.embedded_worker`); the queue is still declared here."""
        self.settings = settings or Settings(data_dir=data_dir)
        self._run_worker = worker
        self.consumes = (self.settings.event_store_queue,)
        self._broker: InProcessBroker = broker
        self._data_dir = pathlib.Path(data_dir)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._serving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Declare the queue, bind the API's port (a busy one raises OSError naming it), start
        the worker, the retention and the API."""
        settings, broker = self.settings, self._broker
        self._storage = storage = SqliteEventStorage(settings.sqlite_path)
        feed = EmbeddedEventFeed(broker, settings.event_store_queue, settings.amqp_exchange,
                                 settings.dead_letter_queue)
        worker = IngestWorker(feed, storage, batch_policy(settings))
        exchange, queue = settings.amqp_exchange, settings.event_store_queue
        # the in-process broker is up while the event-store's queue is declared in it
        self._app = build_app(storage, lambda: EmbeddedReplayPublisher(broker, exchange),
                              lambda: broker.has_queue(queue),
                              settings.auth_public_keys_file
                              or self._data_dir / EMBEDDED_PUBLIC_KEY_FILE)
        self._server = _EmbeddedServer(uvicorn.Config(self._app, log_config=None,
                                                      lifespan="off", log_level="warning",
                                                      **tls_options(settings)))
        try:
            self._sock = _bind(settings.event_store_host, settings.event_store_port)
        except OSError:
            storage.close()
            raise
        self._threads = [threading.Thread(target=keep_running, args=(worker, self._stop),
                                          name="event-store-worker", daemon=True)
                         ] if self._run_worker else []
        for thread in self._threads:
            thread.start()
        self._threads.append(start_credential_refresher(self._app, self._stop))
        retention = start_retention(settings, storage, self._stop)
        self._threads += [retention] if retention else []
        self._serving = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        log.info("event_store.embedded_started", port=self._sock.getsockname()[1])

    async def wait(self) -> None:
        assert self._serving is not None
        await asyncio.shield(self._serving)

    async def stop_producing(self) -> None:
        """The API stops; running replays are cancelled (they publish)."""
        if self._serving is None or self._server.should_exit:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._serving
        await asyncio.to_thread(self._app.state.replays.shutdown)

    async def stop(self) -> None:
        await self.stop_producing()
        self._stop.set()
        for thread in self._threads:
            await asyncio.to_thread(thread.join)
        if self._serving is not None:
            self._sock.close()
            self._storage.close()
        log.info("event_store.embedded_stopped")


def run_import_sqlite(path: pathlib.Path, batch_size: int) -> int:
    """`import-sqlite PATH`: exit code 0 when every event of PATH is in the target."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    from event_store.service.importing import copy_events

    if not path.is_file():
        print(f"error: no event store file at {path}", file=sys.stderr)
        return 2
    if batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    if not settings.mongo_url and settings.sqlite_path.resolve() == path.resolve():
        print(f"error: {path} is the configured storage itself (set MONGO_URL, or "
              "EVENT_STORE_SQLITE_PATH to another file)", file=sys.stderr)
        return 2
    source, target = SqliteEventStorage(path), build_storage(settings)
    try:
        result = copy_events(source, target, batch_size, lambda done: print(
            f"{done.read} events read, {done.new} new", file=sys.stderr, flush=True))
    finally:
        source.close()
        target.close()
    where = "MongoDB" if settings.mongo_url else str(settings.sqlite_path)
    print(f"imported {path} into {where}: {result.read} events, {result.new} new "
          f"({result.read - result.new} were there already)")
    return 0
