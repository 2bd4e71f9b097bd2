"""Broker ceiling: how many persistent, confirmed messages per second this machine's RabbitMQ
takes into one durable queue, with no event store involved (events already in memory).

Each publisher is a separate process (so one client's GIL is not the limit) with its own
connection, publisher confirms and a window of messages in flight: `pika` = the replay's own
`PikaReplayPublisher.send` (SelectConnection, window 4,000) fed from memory; `aiormq` = the
gateway's client (one task per publish, window 2,000). 1 vs N publishers show whether the
broker or the client is the bottleneck. Also usable alone:

    .venv/bin/python -m bench.event_store.broker_ceiling --messages 200000 --publishers 1,2,4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
import uuid
from collections import deque
from itertools import islice
from typing import Any

import aiormq
import pika
from aiormq.abc import ConfirmationFrameType
from pamqp.commands import Basic

from bench.event_store.cpu import CpuSpan
from bench.event_store.events import stored_events
from bench.event_store.processes import AMQP_URL
from event_store.domain.events import StoredEvent
from event_store.infrastructure.rabbitmq_replay import CONFIRM_WINDOW, PikaReplayPublisher


def _events(count: int) -> list[StoredEvent]:
    """Replay-sized events (the bench's generator, ~450 bytes) of 1,000 stations."""
    return list(islice(stored_events(1_000, 1, count, first_sequence=7 * 10**11), count))


def _pika_publish(url: str, queue: str, count: int, window: int) -> float:
    publisher = PikaReplayPublisher(url, "unused", window=window)
    messages = [(event, {"charging_station_id": event.charging_station_id, "replayed": True,
                         "replay_id": "ceiling"}) for event in _events(count)]
    pages = [messages[i:i + 2_000] for i in range(0, count, 2_000)]
    began = time.perf_counter()
    publisher.send(queue, pages, lambda _sent: None)
    return time.perf_counter() - began


async def _publish(url: str, queue: str, count: int, window: int) -> float:
    """Publish `count` persistent messages with confirms, at most `window` unconfirmed."""
    bodies = [event.body for event in _events(count)]
    connection = await aiormq.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    pending: deque[asyncio.Future[ConfirmationFrameType | None]] = deque()
    began = time.perf_counter()
    for n, body in enumerate(bodies):
        properties = Basic.Properties(content_type="application/json", delivery_mode=2,
                                      message_id=str(n), timestamp=None,
                                      headers={"replayed": True, "charging_station_id": "CP"})
        pending.append(asyncio.ensure_future(
            channel.basic_publish(body, routing_key=queue, properties=properties)))
        if len(pending) >= window:
            await pending.popleft()  # confirms arrive in order: the oldest is next
    for confirmation in pending:
        await confirmation
    elapsed = time.perf_counter() - began
    await connection.close()
    return elapsed


def _worker(client: str, url: str, queue: str, count: int, window: int, start: Any,
            results: Any) -> None:
    start.wait()
    began = time.time()
    if client == "pika":
        elapsed = _pika_publish(url, queue, count, window)
    else:
        elapsed = asyncio.run(_publish(url, queue, count, window))
    results.put((began, began + elapsed))


def ceiling(queue: str, total: int, publishers: int, client: str = "pika",
            url: str = AMQP_URL) -> dict[str, Any]:
    """Aggregate confirmed rate of `publishers` processes sharing `total` messages."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    per = total // publishers
    window = CONFIRM_WINDOW if client == "pika" else 2_000
    workers = [context.Process(target=_worker, args=(client, url, queue, per, window, start,
                                                          results))
               for _ in range(publishers)]
    for worker in workers:
        worker.start()
    time.sleep(3.0)  # spawned interpreters import and build their events before the clock
    with CpuSpan() as cpu:
        start.set()
        spans = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    seconds = max(end for _, end in spans) - min(begin for begin, _ in spans)
    return {"client": client, "publishers": publishers, "messages": per * publishers,
            "seconds": round(seconds, 2), "per_s": round(per * publishers / seconds),
            **cpu.figures()}


def run(counts: list[int], total: int, clients: tuple[str, ...] = ("pika",),
        url: str = AMQP_URL, queue_arguments: dict[str, Any] | None = None,
        ) -> list[dict[str, Any]]:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    queue = f"bench-es-ceiling-{uuid.uuid4().hex[:10]}"
    channel.queue_declare(queue, durable=True,
                          arguments={"x-expires": 3_600_000, **(queue_arguments or {})})
    try:
        results = []
        for client in clients:
            for count in counts:
                results.append(ceiling(queue, total, count, client, url=url))
                connection.process_data_events(time_limit=0)  # heartbeats
                channel.queue_purge(queue)
        return results
    finally:
        channel.queue_delete(queue)
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--publishers", default="1,2,4")
    parser.add_argument("--clients", default="pika", help="pika,aiormq")
    parser.add_argument("--queue-arguments", type=json.loads, default={},
                        help='extra queue arguments as JSON, e.g. \'{"x-queue-mode": "lazy"}\'')
    args = parser.parse_args()
    counts = [int(c) for c in args.publishers.split(",")]
    for result in run(counts, args.messages, tuple(args.clients.split(",")),
                      queue_arguments=args.queue_arguments):
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
