"""In a steady stream, the embedded event stream waits a little after a batch's first event
(the worker's `receive(timeout > 0)`), so the events arriving meanwhile are committed with it;
it does not wait for a lone event (no batch started just before), when a batch is already
there, or when asked for more (`receive(0)`)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from csms_embedded.broker import InProcessBroker
from csms_embedded.journal import Journal
from save_server.infrastructure.messaging.embedded import EmbeddedEventStream

EXCHANGE, TYPE = "ocpp-events", "ocpp-events.heart-beat"


@pytest.fixture
def broker(tmp_path: Path):
    broker = InProcessBroker(Journal(tmp_path / "broker.sqlite3"))
    yield broker
    broker.close()


def test_events_arriving_while_the_first_lingers_join_its_batch(
        broker: InProcessBroker) -> None:
    stream = EmbeddedEventStream(broker, EXCHANGE, "q", [TYPE], linger_ms=1000)
    broker.publish(EXCHANGE, TYPE, b"0")
    assert stream.receive(5.0).body == b"0"  # the batch just before: a steady stream
    broker.publish(EXCHANGE, TYPE, b"1")
    later = threading.Timer(0.05, lambda: [broker.publish(EXCHANGE, TYPE, b) for b in (b"2", b"3")])
    later.start()
    first = stream.receive(5.0)
    batch = [first, stream.receive(0), stream.receive(0)]
    later.join()
    assert [d.body for d in batch if d is not None] == [b"1", b"2", b"3"]


def test_a_lone_event_is_not_held_back(broker: InProcessBroker) -> None:
    stream = EmbeddedEventStream(broker, EXCHANGE, "q", [TYPE], linger_ms=1000)
    broker.publish(EXCHANGE, TYPE, b"1")
    later = threading.Timer(0.5, lambda: broker.publish(EXCHANGE, TYPE, b"2"))
    later.start()
    assert stream.receive(5.0).body == b"1"
    assert stream.receive(0) is None  # no batch just before: nobody waited for "2"
    later.join()


def test_no_wait_for_more_when_asked_for_more_or_when_off(
        broker: InProcessBroker) -> None:
    stream = EmbeddedEventStream(broker, EXCHANGE, "q", [TYPE])  # off by default
    broker.publish(EXCHANGE, TYPE, b"1")
    later = threading.Timer(0.5, lambda: broker.publish(EXCHANGE, TYPE, b"2"))
    later.start()
    assert stream.receive(5.0).body == b"1"
    assert stream.receive(0) is None  # "2" comes later: nobody waited for it
    later.join()
