"""The local-list consumer: one durable queue of its own, bound to the station events on the
events exchange and to the tag registry's events (on both exchanges: wherever the outbox
routes them), handled concurrently (up to `concurrency` messages in flight: a connect's
check waits a moment first), each message
acknowledged after its work ended, requeued after an error and dead-lettered to
`<queue>.dead-letter` after `MAX_ATTEMPTS` failures (messaging/attempts.py: transient ones are
retried without limit); replayed copies are acknowledged without any work. RabbitMQ: the queue is
single-active-consumer, so with several API processes one of them syncs at a time (the
versions of a station's list come from one place). Embedded: the in-process broker."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from save_server.infrastructure.messaging.attempts import Attempts, describe
from save_server.infrastructure.messaging.dead_letters import dead_letter_headers
from save_server.infrastructure.messaging.embedded import InProcessBroker as Broker
from save_server.infrastructure.messaging.embedded import dead_letter

log = structlog.get_logger("save_server.local_lists")

Handler = Callable[[bytes], Awaitable[None]]
Binding = tuple[str, str]  # (exchange, routing key)
RETRY_PAUSE = 1.0
ACK, REQUEUE, DEAD_LETTER = "ack", "requeue", "dead-letter"
Settle = Callable[[str, str], Any]  # (one of those, the error) → maybe an awaitable


def replayed(headers: Any) -> bool:
    """A copy sent by the event-store's replay (docs/events.md): history, not a station that
    connects now or a tag that changes now — it must not make the platform call stations."""
    return bool(isinstance(headers, dict) and headers.get("replayed"))


async def _one(handle: Handler, body: bytes, settle: Settle, slots: asyncio.Semaphore,
               attempts: Attempts, headers: Any = None) -> None:
    try:
        try:
            if not replayed(headers):
                await handle(body)
        except Exception as error:  # database away, a bug: try again later, nothing is lost
            if attempts.exhausted(body, error):
                await _maybe(settle(DEAD_LETTER, describe(error)))
                return
            await asyncio.sleep(RETRY_PAUSE)
            await _maybe(settle(REQUEUE, ""))
            return
        attempts.succeeded(body)
        await _maybe(settle(ACK, ""))
    except Exception as error:  # the broker away: the message comes back
        log.warning("local list event: not settled", error=repr(error))
    finally:
        slots.release()


async def _maybe(result: Any) -> None:
    if asyncio.iscoroutine(result):
        await result


async def consume_embedded(broker: Broker, queue: str, bindings: Sequence[Binding],
                           handle: Handler, stop: threading.Event,
                           concurrency: int = 256) -> None:
    broker.declare_queue(queue, list(bindings), dead_letter_queue=f"{queue}.dead-letter",
                         durable=True)
    attempts = Attempts(queue)
    slots, tasks = asyncio.Semaphore(concurrency), set[asyncio.Task[None]]()
    while not stop.is_set():
        await slots.acquire()
        message = await asyncio.to_thread(broker.get, queue, 0.5)
        if message is None:
            slots.release()
            continue

        def settle(outcome: str, error: str, message: Any = message) -> Any:
            if outcome == ACK:
                return broker.ack(queue, message)
            if outcome == REQUEUE:
                return broker.nack(queue, message, requeue=True)
            return asyncio.to_thread(dead_letter, broker, queue, message, error)

        task = asyncio.create_task(_one(handle, message.body, settle, slots, attempts,
                                        message.headers))
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
    dead_letters = await _declare_dead_letter(channel, bindings[0][0], queue)
    attempts = Attempts(queue)
    slots, tasks = asyncio.Semaphore(concurrency), set[asyncio.Task[None]]()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await slots.acquire()

        async def settle(outcome: str, error: str) -> None:
            if outcome == DEAD_LETTER:
                await _publish_dead_letter(dead_letters, queue, message, error)
            await (message.nack(requeue=True) if outcome == REQUEUE else message.ack())

        task = asyncio.create_task(_one(handle, message.body, settle, slots, attempts,
                                        message.headers))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await declared.consume(on_message)
    while not stop.is_set():
        await asyncio.sleep(0.2)
    await asyncio.gather(*tasks, return_exceptions=True)


async def _declare_dead_letter(channel: Any, exchange: str, queue: str) -> Any:
    """messaging/rabbitmq.declare_dead_letter on this client: `<exchange>.dead-letter` (of the
    events exchange) and `<queue>.dead-letter`, bound by the queue's name."""
    import aio_pika

    dead_letters = await channel.declare_exchange(
        f"{exchange}.dead-letter", aio_pika.ExchangeType.TOPIC, durable=True)
    declared = await channel.declare_queue(f"{queue}.dead-letter", durable=True)
    await declared.bind(dead_letters, f"{queue}.dead-letter")
    return dead_letters


async def _publish_dead_letter(dead_letters: Any, queue: str, message: Any, error: str) -> None:
    """A copy with the error (as messaging/rabbitmq.publish_dead_letter), confirmed by the
    broker before the original is acknowledged."""
    import aio_pika

    headers = dead_letter_headers(message.headers, message.routing_key, error)
    await dead_letters.publish(
        aio_pika.Message(message.body, headers=headers, content_type=message.content_type,
                         message_id=message.message_id,
                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
        routing_key=f"{queue}.dead-letter")
