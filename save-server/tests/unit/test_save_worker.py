"""The worker's acknowledgement policy, on the in-process broker with in-memory fakes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from csms_embedded.broker import InProcessBroker
from save_server.infrastructure.messaging.embedded import EmbeddedEventStream
from save_server.infrastructure.messaging.worker import Backoff, EventWorker
from save_server.infrastructure.translation import HANDLED_TYPES

QUEUE, DEAD = "save-server", "save-server.dead-letter"


@pytest.fixture
def broker() -> InProcessBroker:
    return InProcessBroker()


@pytest.fixture
def stream(broker: InProcessBroker) -> EmbeddedEventStream:
    return EmbeddedEventStream(broker, "ocpp-events", QUEUE, HANDLED_TYPES)


def publish(broker: InProcessBroker, event: dict[str, Any]) -> None:
    broker.publish("ocpp-events", event["type"], json.dumps(event).encode())


def drain(worker: EventWorker, stream: EmbeddedEventStream, limit: int = 20) -> int:
    handled, stop = 0, threading.Event()
    while handled < limit and (delivery := stream.receive(0.05)) is not None:
        worker.handle(stream, delivery, stop)
        handled += 1
    return handled


def test_the_queue_is_bound_to_the_types_it_handles(broker: InProcessBroker,
                                                    stream: EmbeddedEventStream) -> None:
    assert broker.publish("ocpp-events", "ocpp-events.start-transaction", b"{}") == 1
    assert broker.publish("ocpp-events", "ocpp-events.firmware-status-notification", b"{}") == 0


def test_a_database_failure_requeues_and_the_event_applies_once_later(
        broker: InProcessBroker, stream: EmbeddedEventStream, store: Any, fakes: Any,
        charger: Callable[..., Any]) -> None:
    failures = {"left": 2}

    class FlakyUnitOfWork(fakes.MemoryUnitOfWork):  # type: ignore[misc, name-defined]
        def commit(self) -> None:
            if failures["left"]:
                failures["left"] -= 1
                raise OperationalError("COMMIT", {}, Exception("connection reset"))
            super().commit()

    worker = EventWorker(lambda: stream, lambda: FlakyUnitOfWork(store),
                         backoff=Backoff(first=0.001, maximum=0.01))
    cp = charger()
    publish(broker, cp.start(1, 3, 100))
    assert drain(worker, stream) == 3  # failed, failed, applied
    assert failures["left"] == 0
    assert len(store.charges) == 1 and len(store.processed) == 1
    assert broker.depth(QUEUE) == 0 and broker.depth(DEAD) == 0


def test_nothing_is_acknowledged_before_the_commit(
        broker: InProcessBroker, stream: EmbeddedEventStream, store: Any, fakes: Any,
        charger: Callable[..., Any]) -> None:
    acked: list[bool] = []

    class Watching(fakes.MemoryUnitOfWork):  # type: ignore[misc, name-defined]
        def commit(self) -> None:
            unacknowledged = broker._queues[QUEUE].unacked  # the broker's own bookkeeping
            acked.append(len(unacknowledged) == 0)
            super().commit()

    worker = EventWorker(lambda: stream, lambda: Watching(store))
    publish(broker, charger().boot())
    delivery = stream.receive(0.1)
    assert delivery is not None
    worker.handle(stream, delivery, threading.Event())
    assert acked == [False]  # still unacknowledged while committing
    broker.recover(QUEUE)  # nothing left unacknowledged to redeliver
    assert broker.depth(QUEUE) == 0


def test_poison_is_dead_lettered_with_its_error_and_the_next_event_still_applies(
        broker: InProcessBroker, stream: EmbeddedEventStream, store: Any,
        memory_uow: Callable[[], Any], charger: Callable[..., Any]) -> None:
    cp = charger()
    broker.publish("ocpp-events", "ocpp-events.boot-notification", b"\x00garbage")
    bad = cp.stop(1, 10)
    del bad["payload"]["meterStop"]
    publish(broker, bad)
    publish(broker, cp.boot())
    worker = EventWorker(lambda: stream, memory_uow)
    assert drain(worker, stream) == 3
    assert cp.station_id in store.stations
    first, second = broker.get(DEAD, 0.1), broker.get(DEAD, 0.1)
    assert first is not None and second is not None
    assert "not JSON" in first.headers["x-error"]
    assert "meterStop" in second.headers["x-error"]
    assert broker.depth(QUEUE) == 0


def test_the_worker_thread_stops_promptly(stream: EmbeddedEventStream,
                                          memory_uow: Callable[[], Any]) -> None:
    stop = threading.Event()
    worker = EventWorker(lambda: stream, memory_uow, poll_seconds=0.05)
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    stop.set()
    thread.join(2)
    assert not thread.is_alive()


def test_backoff_grows_and_resets() -> None:
    backoff = Backoff(first=0.1, maximum=0.5)
    assert [backoff.next_delay() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next_delay() == 0.1
