"""The save-server worker's CPU per event on SQLite (the embedded mode's database), without the
broker: `EventWorker.handle_batch` over batches of session events, as
`bench.save_server.worker_cpu` does on PostgreSQL. Compare two trees with PYTHONPATH.

    .venv/bin/python -m bench.embedded.worker_cpu --batch-sizes 5,20,50 --events 3000
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import threading
import time
from collections.abc import Sequence

from bench.save_server.sessions import Event, session_events
from bench.save_server.worker_cpu import ListStream
from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.domain.ports import Delivery
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.logs import configure_logging
from save_server.infrastructure.messaging.worker import EventWorker


def cpu_us_per_event(worker: EventWorker, events: Sequence[Event], batch_size: int) -> float:
    stream, stop = ListStream(), threading.Event()
    deliveries = [Delivery(e.body, e.type, False, None) for e in events]
    cpu = time.process_time()
    for start in range(0, len(deliveries), batch_size):
        worker.handle_batch(stream, deliveries[start:start + batch_size], stop)
    return (time.process_time() - cpu) / len(deliveries) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3_000, help="per batch size")
    parser.add_argument("--stations", type=int, default=1_000)
    parser.add_argument("--batch-sizes", default="5,20,50")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    configure_logging("console", "WARNING")
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings().model_copy(update={"data_dir": pathlib.Path(folder),
                                                 "database_url": None})
        migrate(settings.resolved_database_url)
        container = bootstrap(settings)
        worker = EventWorker(lambda: ListStream(), container.uow_factory)
        n = args.events
        events = session_events(args.stations, n * (len(sizes) + 1))
        cpu_us_per_event(worker, events[:n], 200)  # warm-up: stations created, caches filled
        print(" ".join(
            f"batch{size}={cpu_us_per_event(worker, events[(i + 1) * n:(i + 2) * n], size):.0f}us"
            for i, size in enumerate(sizes)), flush=True)
        container.close()


if __name__ == "__main__":
    main()
