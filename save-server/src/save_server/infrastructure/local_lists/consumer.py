"""The local-list consumer: one durable queue of its own, bound to the station events on the
events exchange and to the tag registry's events (on both exchanges: wherever the outbox
routes them), handled concurrently (up to `concurrency` messages in flight: a connect's
check waits a moment first), each message
acknowledged after its work ended, requeued after an error; replayed copies are acknowledged
without any work. RabbitMQ: the queue is
single-active-consumer, so with several API processes one of them syncs at a time (the
versions of a station's list come from one place). Embedded: the in-process broker."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from save_server.infrastructure.messaging.embedded import InProcessBroker as Broker

log = structlog.get_logger("save_server.local_lists")

Handler = Callable[[bytes], Awaitable[None]]
Binding = tuple[str, str]  # (exchange, routing key)
RETRY_PAUSE = 1.0


def replayed(headers: Any) -> bool:
    """A copy sent by the event-store's replay (docs/events.md): history, not a station that
    connects now or a tag that changes now — it must not make the platform call stations."""
    return bool(isinstance(headers, dict) and headers.get("replayed"))


async def _one(handle: Handler, body: bytes, settle: Callable[[bool], Any],
               slots: asyncio.Semaphore, headers: Any = None) -> None:
    try:
        if not replayed(headers):
            await handle(body)
        await _maybe(settle(True))
    except Exception as error:  # database away, a bug: try again later, nothing is lost
        log.warning("local list event: retrying", error=repr(error))
        await asyncio.sleep(RETRY_PAUSE)
        await _maybe(settle(False))
    finally:
        slots.release()


async def _maybe(result: Any) -> None:
    if asyncio.iscoroutine(result):
        await result


async def consume_embedded(broker: Broker, queue: str, bindings: Sequence[Binding],
                           handle: Handler, stop: threading.Event,
                           concurrency: int = 256) -> None:
    broker.declare_queue(queue, list(bindings), durable=True)
    slots, tasks = asyncio.Semaphore(concurrency), set[asyncio.Task[None]]()
    while not stop.is_set():
        await slots.acquire()
        message = await asyncio.to_thread(broker.get, queue, 0.5)
        if message is None:
            slots.release()
            continue

        def settle(done: bool, message: Any = message) -> None:
            if done:
                broker.ack(queue, message)
            else:
                broker.nack(queue, message, requeue=True)

        task = asyncio.create_task(_one(handle, message.body, settle, slots, message.headers))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks, return_exceptions=True)


async def consume_rabbitmq(url: str, queue: str, bindings: Sequence[Binding], handle: Handler,
                           stop: threading.Event, concurrency: int = 256) -> None:
    import aio_pika

    while not stop.is_set():
        try:
            connection = await aio_pika.connect_robust(url, timeout=5)
        except Exception as error:
            log.warning("local lists: broker unreachable, retrying", error=repr(error))
            await asyncio.sleep(2)
            continue
        try:
            await _session(connection, queue, bindings, handle, stop, concurrency)
        except Exception as error:
            log.warning("local lists: consumer failed, retrying", error=repr(error))
            await asyncio.sleep(2)
        finally:
            with contextlib.suppress(Exception):
                await connection.close()


async def _session(connection: Any, queue: str, bindings: Sequence[Binding], handle: Handler,
                   stop: threading.Event, concurrency: int) -> None:
    import aio_pika

    channel = await connection.channel()
    await channel.set_qos(prefetch_count=concurrency)
    declared = await channel.declare_queue(
        queue, durable=True, arguments={"x-single-active-consumer": True})
    for exchange, routing_key in bindings:
        await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        await declared.bind(exchange, routing_key)
    slots, tasks = asyncio.Semaphore(concurrency), set[asyncio.Task[None]]()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await slots.acquire()

        def settle(done: bool) -> Awaitable[None]:
            return message.ack() if done else message.nack(requeue=True)

        task = asyncio.create_task(_one(handle, message.body, settle, slots,
                                        message.headers))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await declared.consume(on_message)
    while not stop.is_set():
        await asyncio.sleep(0.2)
    await asyncio.gather(*tasks, return_exceptions=True)
