"""The embedded save-server's event worker alone, for a consumer process of csms_embedded.

A composition root of its own because that process runs nothing else: it imports the worker's
modules only (no API, no FastAPI, no uvicorn), which keeps the process small
(docs/performance.md, "Embedded mode"). `save_server.bootstrap.Container.worker` wires the same
worker for the other modes.
"""

from __future__ import annotations

import pathlib
import threading

from save_server.config import Settings
from save_server.infrastructure.db.engine import make_engine
from save_server.infrastructure.db.sqlite import SqliteStatements
from save_server.infrastructure.db.station_cache import StationCache
from save_server.infrastructure.db.uow import SqlUnitOfWork
from save_server.infrastructure.logs import configure_logging
from save_server.infrastructure.messaging.embedded import EmbeddedEventStream, InProcessBroker
from save_server.infrastructure.messaging.worker import EventWorker
from save_server.infrastructure.translation import HANDLED_TYPES

# The stations kept between batches (least recently written first out). The embedded mode is
# for up to ~5,000 stations (docs/operations.md); beyond that a station's next event reads it
# back from SQLite instead of holding ~5 KiB per station in this second process
CACHED_STATIONS = 5_000


def run_embedded_worker(broker: InProcessBroker, data_dir: pathlib.Path,
                        stop: threading.Event) -> None:
    """`broker`: the consumer process's journal reader; the launcher's EmbeddedSaveServer
    declared the queue and migrated the database (SQLite in DATA_DIR)."""
    settings = Settings().model_copy(update={"data_dir": pathlib.Path(data_dir),
                                             "database_url": None})
    configure_logging(settings.log_format, settings.log_level)
    engine = make_engine(settings.resolved_database_url)
    cache = StationCache(CACHED_STATIONS)
    stream = EmbeddedEventStream(broker, settings.amqp_exchange, settings.save_server_queue,
                                 HANDLED_TYPES, settings.save_server_embedded_linger_ms)
    worker = EventWorker(lambda: stream, lambda: SqlUnitOfWork(engine, SqliteStatements, cache),
                         batch_size=settings.save_server_prefetch)
    try:
        worker.run(stop)
    finally:
        engine.dispose()
