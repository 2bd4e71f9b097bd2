"""The worker's acknowledgement policy, on the in-process broker with in-memory fakes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from csms_embedded.broker import InProcessBroker
from save_server.infrastructure.messaging.attempts import Attempts
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


def test_a_batch_commits_together_and_a_bad_event_in_it_is_set_aside(
        broker: InProcessBroker, stream: EmbeddedEventStream, store: Any, fakes: Any,
        charger: Callable[..., Any]) -> None:
    """One transaction for the ready events; when it fails, event by event: a value the
    database refuses is dead-lettered, the others are applied."""
    from sqlalchemy.exc import DataError

    commits: list[int] = []

    class Refusing(fakes.MemoryUnitOfWork):  # type: ignore[misc, name-defined]
        def commit(self) -> None:
            stations = [s for s in self._work.stations if s.startswith("BAD")]
            if stations:
                raise DataError("INSERT", {}, Exception("value too long"))
            commits.append(len(self._work.processed) - len(self._store.processed))
            super().commit()

    good, bad = charger(), charger(station_id="BAD-1")
    events = [good.boot(), good.status(1, "Available"), bad.boot(), good.heartbeat()]
    for event in events:
        publish(broker, event)
    worker = EventWorker(lambda: stream, lambda: Refusing(store), batch_size=10,
                         poll_seconds=0.05)
    first = stream.receive(0.1)
    assert first is not None
    batch = [first] + [d for d in (stream.receive(0) for _ in range(5)) if d is not None]
    assert len(batch) == 4
    worker.handle_batch(stream, batch, threading.Event())
    assert commits == [1, 1, 1]  # the batch failed; then one by one
    assert len(store.processed) == 3 and bad.station_id not in store.stations
    dead = broker.get(DEAD, 0.1)
    assert dead is not None and "value too long" in dead.headers["x-error"]
    assert broker.depth(QUEUE) == 0


def test_a_whole_batch_in_one_commit(broker: InProcessBroker, stream: EmbeddedEventStream,
                                     store: Any, fakes: Any,
                                     charger: Callable[..., Any]) -> None:
    commits: list[int] = []

    class Counting(fakes.MemoryUnitOfWork):  # type: ignore[misc, name-defined]
        def commit(self) -> None:
            commits.append(len(self._work.processed) - len(self._store.processed))
            super().commit()

    cp = charger()
    events = [cp.boot(), cp.status(1, "Available"), cp.heartbeat()]
    for event in [*events, events[0]]:  # a duplicate inside the same batch
        publish(broker, event)
    worker = EventWorker(lambda: stream, lambda: Counting(store), batch_size=10)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while len(store.processed) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(2)
    assert commits == [3]
    assert broker.depth(QUEUE) == 0


def test_queue_lag_is_measured_from_the_gateways_receipt_to_the_commit(
        broker: InProcessBroker, stream: EmbeddedEventStream, memory_uow: Any,
        charger: Callable[..., Any]) -> None:
    from datetime import UTC, datetime, timedelta

    from prometheus_client import REGISTRY

    def observed() -> tuple[float, float]:
        count = REGISTRY.get_sample_value("save_server_event_lag_seconds_count") or 0.0
        total = REGISTRY.get_sample_value("save_server_event_lag_seconds_sum") or 0.0
        return count, total

    before_count, before_sum = observed()
    cp = charger(start=datetime.now(UTC) - timedelta(minutes=10))
    publish(broker, cp.boot())  # received by the gateway ten minutes ago
    worker = EventWorker(lambda: stream, memory_uow)
    assert drain(worker, stream) == 1
    count, total = observed()
    assert count == before_count + 1
    assert 590 < total - before_sum < 700


class RecoveringStream:
    """The embedded stream, but closing it hands every unacknowledged event back in order
    (what RabbitMQ does when a consumer's channel closes)."""

    def __init__(self, broker: InProcessBroker, stream: EmbeddedEventStream) -> None:
        self._broker, self._stream, self.closed = broker, stream, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def close(self) -> None:
        self.closed += 1
        self._broker.recover(QUEUE)


@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "competitive"])
def test_a_transient_failure_keeps_queue_order_only_in_ordered_mode(
        ordered: bool, broker: InProcessBroker, stream: EmbeddedEventStream,
        memory_uow: Callable[[], Any], charger: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ordered (sharded) mode hands the failed event and those after it back in order; the
    competitive mode requeues the one event and goes on with the next (fine there: the
    domain does not depend on order)."""
    from save_server.infrastructure.messaging import worker as worker_module

    cp = charger()
    sent = [cp.meter_values(1, [{"value": str(n)}], 1) for n in range(5)]
    for event in sent:
        publish(broker, event)
    failing, committed = {"left": 2}, []
    real_ingest = worker_module.ingest_events

    def ingest(uow_factory: Any, events: Any) -> list[bool]:
        if failing["left"] and sent[1]["event_id"] in [e.event_id for e in events]:
            failing["left"] -= 1  # the batch, then the event alone
            raise OperationalError("COMMIT", {}, Exception("connection reset"))
        applied = real_ingest(uow_factory, events)
        committed.extend(e.event_id for e, a in zip(events, applied, strict=True) if a)
        return applied

    monkeypatch.setattr(worker_module, "ingest_events", ingest)
    recovering = RecoveringStream(broker, stream)
    worker = EventWorker(lambda: recovering, memory_uow, Backoff(first=0.001, maximum=0.01),
                         poll_seconds=0.02, batch_size=3, ordered=ordered)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while len(committed) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(2)
    ids = [e["event_id"] for e in sent]
    assert sorted(committed) == sorted(ids) and failing["left"] == 0
    if ordered:
        assert committed == ids
        assert recovering.closed >= 2  # reopened after the failure, closed at the end
    else:
        assert committed == [ids[0], ids[2], ids[1], ids[3], ids[4]]


def integrity_error() -> IntegrityError:
    return IntegrityError("INSERT", {}, Exception("violates foreign key constraint"))


@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "competitive"])
@pytest.mark.parametrize("failures", [2, None], ids=["clears", "every-time"])
def test_a_constraint_an_event_breaks_every_time_is_dead_lettered_after_the_attempts(
        ordered: bool, failures: int | None, broker: InProcessBroker,
        stream: EmbeddedEventStream, memory_uow: Callable[[], Any],
        charger: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """An IntegrityError may clear (a row another writer was adding) or come every time (the
    event breaks a constraint): retried, but not for ever, which in ordered mode would hold
    the whole shard."""
    from save_server.infrastructure.messaging import worker as worker_module

    cp = charger()
    sent = [cp.meter_values(1, [{"value": str(n)}], 1) for n in range(3)]
    for event in sent:
        publish(broker, event)
    bad, tries, committed = sent[1]["event_id"], [], []
    real_ingest = worker_module.ingest_events

    def ingest(uow_factory: Any, events: Any) -> list[bool]:
        if bad in [e.event_id for e in events]:
            tries.append(len(events))
            if failures is None or len(tries) <= failures:
                raise integrity_error()
        applied = real_ingest(uow_factory, events)
        committed.extend(e.event_id for e, a in zip(events, applied, strict=True) if a)
        return applied

    monkeypatch.setattr(worker_module, "ingest_events", ingest)
    worker = EventWorker(lambda: RecoveringStream(broker, stream), memory_uow,
                         Backoff(first=0.001, maximum=0.01), poll_seconds=0.02, batch_size=3,
                         ordered=ordered, attempts=Attempts("test", limit=4))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    expected = 3 if failures else 2
    deadline = time.monotonic() + 5
    while (len(committed) < expected or (failures is None and not broker.depth(DEAD))) \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(2)
    others = [sent[0]["event_id"], sent[2]["event_id"]]
    if failures:
        assert sorted(committed) == sorted([*others, bad]) and broker.depth(DEAD) == 0
        return
    assert sorted(committed) == sorted(others)
    alone = [size for size in tries if size == 1]
    assert len(alone) == 4  # tried alone `limit` times, then set aside
    dead = broker.get(DEAD, 0.1)
    assert dead is not None and json.loads(dead.body)["event_id"] == bad
    assert "IntegrityError" in dead.headers["x-error"]
    assert broker.depth(QUEUE) == 0
