"""RabbitEventStream sends the acks of a batch as one `basic.ack multiple` only when no earlier
delivery is still open: a message neither acked nor rejected always goes back to the queue."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pika
import pytest

from save_server.domain.ports import Delivery
from save_server.infrastructure.messaging.rabbitmq import RabbitEventStream

from .conftest import RabbitNames

pytestmark = pytest.mark.integration

TYPE = "ocpp-events.heartbeat"


def _publish(names: RabbitNames, bodies: list[bytes]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(names.url))
    channel = connection.channel()
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish(names.exchange, TYPE, body, pika.BasicProperties(delivery_mode=2))
    connection.close()


def _ready(names: RabbitNames) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(names.url))
    try:
        return int(connection.channel().queue_declare(names.queue, passive=True)
                   .method.message_count)
    finally:
        connection.close()


def _receive(stream: RabbitEventStream, count: int) -> list[Delivery]:
    received: list[Delivery] = []
    deadline = time.monotonic() + 10
    while len(received) < count and time.monotonic() < deadline:
        delivery = stream.receive(0.2)
        if delivery is not None:
            received.append(delivery)
    assert len(received) == count
    return received


def _ready_after_close(names: RabbitNames, expected: int) -> int:
    deadline = time.monotonic() + 10
    while (ready := _ready(names)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return ready


@pytest.fixture
def stream(rabbit: RabbitNames) -> Iterator[RabbitEventStream]:
    opened = RabbitEventStream(rabbit.url, rabbit.exchange, rabbit.queue, [TYPE], prefetch=10)
    yield opened
    opened.close()


def test_acked_batch_is_settled_and_nothing_returns(rabbit: RabbitNames,
                                                    stream: RabbitEventStream) -> None:
    _publish(rabbit, [b"1", b"2", b"3"])
    for delivery in _receive(stream, 3):
        stream.ack(delivery)
    assert stream.receive(0.1) is None  # sends the acks
    stream.close()
    assert _ready_after_close(rabbit, 0) == 0


def test_an_earlier_open_delivery_is_not_acked_with_the_later_ones(
        rabbit: RabbitNames, stream: RabbitEventStream) -> None:
    _publish(rabbit, [b"1", b"2", b"3", b"4"])
    first, second, third, fourth = _receive(stream, 4)
    stream.ack(second)
    stream.ack(fourth)
    stream.requeue(third)
    stream.receive(0)  # flushes the two acks; `first` stays open (and third comes back)
    stream.close()  # the open deliveries return to the queue
    assert first.body == b"1"
    assert _ready_after_close(rabbit, 2) == 2  # "1" and the requeued "3"


def test_dead_lettered_delivery_then_batch_ack(rabbit: RabbitNames,
                                                stream: RabbitEventStream) -> None:
    _publish(rabbit, [b"1", b"2", b"3"])
    first, second, third = _receive(stream, 3)
    stream.dead_letter(second, "bad")
    stream.ack(first)
    stream.ack(third)
    stream.close()  # close sends the pending acks
    assert _ready_after_close(rabbit, 0) == 0
