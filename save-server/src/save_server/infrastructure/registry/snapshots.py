"""Answers the gateways' `station-registry.snapshot-requested` with one snapshot of the whole
registry (through the outbox). A durable queue on the registry exchange: with several API
replicas, one of them answers each request; a request is acknowledged after the snapshot's
outbox row committed."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, Protocol

import pika
import structlog

log = structlog.get_logger(__name__)

REQUESTED = "station-registry.snapshot-requested"

Answer = Callable[[str | None], int]  # publish a snapshot for this gateway; its revision


def requester(body: bytes) -> str | None:
    try:
        payload = json.loads(body).get("payload") or {}
    except (ValueError, AttributeError):
        return None  # a malformed request still gets a snapshot: it is harmless
    value = payload.get("gateway_instance")
    return str(value) if value is not None else None


def serve_rabbitmq(url: str, exchange: str, queue: str, answer: Answer,
                   stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            try:
                _consume(url, exchange, queue, answer, stop)
            except Exception as error:  # broker away: retry, requests wait in the queue
                log.warning("registry snapshot requests: broker unavailable", error=str(error))
                stop.wait(2.0)

    thread = threading.Thread(target=run, name="save-server-registry-snapshots", daemon=True)
    thread.start()
    return thread


def _consume(url: str, exchange: str, queue: str, answer: Answer,
             stop: threading.Event) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", durable=True)
        channel.queue_declare(queue, durable=True)
        channel.queue_bind(queue, exchange, routing_key=REQUESTED)
        while not stop.is_set():
            method, _, body = channel.basic_get(queue)
            if method is None:
                connection.sleep(0.5)
                continue
            answer(requester(body))
            channel.basic_ack(method.delivery_tag)
    finally:
        if connection.is_open:
            connection.close()


class Broker(Protocol):
    def declare_queue(self, name: str, bindings: Any = (),
                      dead_letter_queue: str | None = None) -> None: ...

    def get(self, queue: str, timeout: float | None = None) -> Any: ...

    def ack(self, queue: str, message: Any) -> None: ...

    def nack(self, queue: str, message: Any, requeue: bool = True) -> None: ...


def serve_embedded(broker: Broker, exchange: str, queue: str, answer: Answer,
                   stop: threading.Event) -> threading.Thread:
    broker.declare_queue(queue, [(exchange, REQUESTED)])

    def run() -> None:
        while not stop.is_set():
            message = broker.get(queue, timeout=0.5)
            if message is None:
                continue
            try:
                answer(requester(message.body))
            except Exception as error:
                log.warning("registry snapshot failed; retried", error=str(error))
                broker.nack(queue, message, requeue=True)
                stop.wait(1.0)
                continue
            broker.ack(queue, message)

    thread = threading.Thread(target=run, name="save-server-registry-snapshots", daemon=True)
    thread.start()
    return thread
