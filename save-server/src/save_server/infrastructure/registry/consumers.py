"""A small consumer of gateway and registry events for the registry's own needs: one queue,
its bindings, one handler per message, acknowledged after the handler returned (its change
committed). A message that keeps failing is dead-lettered to `<queue>.dead-letter` after
`MAX_ATTEMPTS` (messaging/attempts.py: transient failures are retried without limit).
RabbitMQ (a thread with a blocking connection, reconnecting) or the in-process broker of
`make run`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pika
import structlog

from save_server.infrastructure.messaging.attempts import Attempts, describe
from save_server.infrastructure.messaging.embedded import InProcessBroker as Broker
from save_server.infrastructure.messaging.embedded import dead_letter
from save_server.infrastructure.messaging.rabbitmq import declare_dead_letter, publish_dead_letter

log = structlog.get_logger(__name__)

Handler = Callable[[bytes], None]
RETRY_PAUSE = 1.0  # after a failed message (embedded)
RECONNECT_PAUSE = 2.0  # after a failed message or a lost connection (RabbitMQ)
# RabbitMQ pushes up to PREFETCH unacknowledged messages ahead (a `basic_get` per message was
# a round trip each, and an empty queue was polled every 0.5 s: the load queue's events waited
# for it); a message not acknowledged when the connection closes goes back to the queue.
PREFETCH = 100
IDLE_CHECK = 0.5  # seconds without a message before `stop` is looked at again


def serve_rabbitmq(url: str, exchange: str, queue: str, bindings: Sequence[str],
                   handle: Handler, stop: threading.Event, name: str) -> threading.Thread:
    attempts = Attempts(queue)

    def run() -> None:
        while not stop.is_set():
            try:
                _consume(url, exchange, queue, bindings, handle, stop, attempts)
            except Exception as error:  # broker or database away: retry, nothing was acked
                log.warning("registry consumer: retrying", queue=queue, error=str(error))
                stop.wait(RECONNECT_PAUSE)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def _consume(url: str, exchange: str, queue: str, bindings: Sequence[str], handle: Handler,
             stop: threading.Event, attempts: Attempts) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", durable=True)
        channel.queue_declare(queue, durable=True)
        for binding in bindings:
            channel.queue_bind(queue, exchange, routing_key=binding)
        declare_dead_letter(channel, exchange, queue)
        channel.confirm_delivery()  # a dead letter is on the broker before its ack
        channel.basic_qos(prefetch_count=PREFETCH)
        for method, properties, body in channel.consume(queue, inactivity_timeout=IDLE_CHECK):
            if stop.is_set():
                break
            if method is None:
                continue  # nothing came for IDLE_CHECK: look at `stop` again
            try:
                handle(body)
            except Exception as error:
                if not attempts.exhausted(body, error):
                    raise  # the connection closes: the message goes back to the queue
                publish_dead_letter(channel, exchange, queue, body, method.routing_key,
                                    properties, describe(error))
            else:
                attempts.succeeded(body)
            channel.basic_ack(method.delivery_tag)
    finally:
        if connection.is_open:
            connection.close()


def serve_embedded(broker: Broker, exchange: str, queue: str, bindings: Sequence[str],
                   handle: Handler, stop: threading.Event, name: str) -> threading.Thread:
    broker.declare_queue(queue, [(exchange, binding) for binding in bindings],
                         dead_letter_queue=f"{queue}.dead-letter", durable=True)
    attempts = Attempts(queue)

    def run() -> None:
        while not stop.is_set():
            message = broker.get(queue, timeout=0.5)
            if message is None:
                continue
            try:
                handle(message.body)
            except Exception as error:
                if attempts.exhausted(message.body, error):
                    dead_letter(broker, queue, message, describe(error))
                    continue
                broker.nack(queue, message, requeue=True)
                stop.wait(RETRY_PAUSE)
                continue
            attempts.succeeded(message.body)
            broker.ack(queue, message)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
