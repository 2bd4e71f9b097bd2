"""CPU per event of the embedded publish path without the load generator: the gateway's
`InProcessNotifier.publish` → the broker's journal (group commit, fsync) → three durable
queues, each drained and acknowledged by a thread. Prints the process's CPU time (all its
threads) per event and the events per second. Compare two trees with PYTHONPATH.

    .venv/bin/python -m bench.embedded.publish_cpu --events 20000
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import tempfile
import threading
import time
from datetime import UTC, datetime

from csms_embedded.broker import InProcessBroker
from csms_embedded.journal import Journal
from ocpp_events.domain.events import Event
from ocpp_events.infrastructure.inprocess_notifier import InProcessNotifier

EXCHANGE, QUEUES, IN_FLIGHT = "ocpp-events", ("a", "b", "c"), 100


def drain(broker: InProcessBroker, queue: str, stop: threading.Event) -> None:
    while not stop.is_set():
        for message in broker.get_many(queue, 500, 0.2):
            broker.ack(queue, message)


async def measure(events: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        broker = InProcessBroker(Journal(pathlib.Path(folder) / "broker.sqlite3"))
        for queue in QUEUES:
            broker.declare_queue(queue, [(EXCHANGE, "#")], durable=True)
        stop = threading.Event()
        for queue in QUEUES:
            threading.Thread(target=drain, args=(broker, queue, stop), daemon=True).start()
        notifier = InProcessNotifier(broker, EXCHANGE)
        event = Event.for_call(station_id="CP-1", ocpp_version="1.6", connection_id="c1",
                               message_id="m1", action="Heartbeat",
                               received_at=datetime.now(UTC), payload={},
                               response={"currentTime": "2026-01-01T00:00:00Z"})
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(0, events, IN_FLIGHT):
            await asyncio.gather(*(notifier.publish(event) for _ in range(IN_FLIGHT)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        stop.set()
        broker.close()
        return cpu / events * 1e6, events / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    cpu_us, rate = asyncio.run(measure(args.events))
    print(f"cpu_us_per_event={cpu_us:.0f} events_per_s={rate:.0f}")


if __name__ == "__main__":
    main()
