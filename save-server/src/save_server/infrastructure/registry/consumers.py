"""A small consumer of gateway and registry events for the registry's own needs: one queue,
its bindings, one handler per message, acknowledged after the handler returned (its change
committed). RabbitMQ (a thread with a blocking connection, reconnecting) or the in-process
broker of `make run`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pika
import structlog

from save_server.infrastructure.messaging.embedded import InProcessBroker as Broker

log = structlog.get_logger(__name__)

Handler = Callable[[bytes], None]


def serve_rabbitmq(url: str, exchange: str, queue: str, bindings: Sequence[str],
                   handle: Handler, stop: threading.Event, name: str) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            try:
                _consume(url, exchange, queue, bindings, handle, stop)
            except Exception as error:  # broker or database away: retry, nothing was acked
                log.warning("registry consumer: retrying", queue=queue, error=str(error))
                stop.wait(2.0)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def _consume(url: str, exchange: str, queue: str, bindings: Sequence[str], handle: Handler,
             stop: threading.Event) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", durable=True)
        channel.queue_declare(queue, durable=True)
        for binding in bindings:
            channel.queue_bind(queue, exchange, routing_key=binding)
        while not stop.is_set():
            method, _, body = channel.basic_get(queue)
            if method is None:
                connection.sleep(0.5)
                continue
            handle(body)
            channel.basic_ack(method.delivery_tag)
    finally:
        if connection.is_open:
            connection.close()


def serve_embedded(broker: Broker, exchange: str, queue: str, bindings: Sequence[str],
                   handle: Handler, stop: threading.Event, name: str) -> threading.Thread:
    broker.declare_queue(queue, [(exchange, binding) for binding in bindings], durable=True)

    def run() -> None:
        while not stop.is_set():
            message = broker.get(queue, timeout=0.5)
            if message is None:
                continue
            try:
                handle(message.body)
            except Exception as error:
                log.warning("registry consumer: retrying", queue=queue, error=str(error))
                broker.nack(queue, message, requeue=True)
                stop.wait(1.0)
                continue
            broker.ack(queue, message)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
