"""Replays on the in-process broker: order, byte-identical bodies, targets, cancel, API."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from csms_embedded.broker import InProcessBroker
from event_store.bootstrap import build_app
from event_store.domain.queries import EventQuery
from event_store.infrastructure.embedded_broker import EmbeddedEventFeed, EmbeddedReplayPublisher
from event_store.infrastructure.worker import BatchPolicy, IngestWorker
from event_store.service.replay import ReplayService, ReplayState

EXCHANGE = "ocpp-events"
T0 = datetime(2025, 11, 25, 9, 0, tzinfo=UTC)
START = "ocpp-events.start-transaction"


@pytest.fixture
def broker() -> InProcessBroker:
    broker = InProcessBroker()
    broker.declare_queue("save-server", [(EXCHANGE, "ocpp-events.start-transaction")])
    broker.declare_queue("listener", [(EXCHANGE, "#")])
    return broker


@pytest.fixture
def events(sqlite_storage, make_event):
    """Six events of two stations, stored out of order."""
    events = [make_event(station=f"CP-{i % 2}", event_type=START if i % 3 == 0 else
                         "ocpp-events.heart-beat", received_at=T0 + timedelta(seconds=i))
              for i in range(6)]
    sqlite_storage.save_many(events[::-1])
    return events


def drain(broker, queue):
    messages = []
    while (message := broker.get(queue, timeout=0)) is not None:
        broker.ack(queue, message)
        messages.append(message)
    return messages


def replay_service(storage, broker, page_size=500) -> ReplayService:
    return ReplayService(storage, lambda: EmbeddedReplayPublisher(broker, EXCHANGE), page_size)


def test_replay_to_all_republishes_in_original_order_with_original_bodies(sqlite_storage, broker,
                                                                         events):
    service = replay_service(sqlite_storage, broker, page_size=4)  # several pages
    job = service.start(EventQuery(), "all")
    service.wait(job.id, 5)
    assert job.state is ReplayState.COMPLETED and job.events_sent == 6 and job.errors == []
    received = drain(broker, "listener")
    assert [m.body for m in received] == [e.body for e in events]
    assert [m.routing_key for m in received] == [e.type for e in events]
    assert all(m.headers["replayed"] is True for m in received)
    assert [m.properties["message_id"] for m in received] == [e.event_id for e in events]
    assert len(drain(broker, "save-server")) == 2  # the broker's routing still applies


def test_replay_to_one_queue_reaches_only_that_queue_with_the_filters(sqlite_storage, broker,
                                                                      events):
    service = replay_service(sqlite_storage, broker)
    job = service.start(EventQuery(charging_station_id="CP-1", start_date=T0), "listener")
    service.wait(job.id, 5)
    assert job.state is ReplayState.COMPLETED
    assert [m.body for m in drain(broker, "listener")] == [e.body for e in events[1::2]]
    assert drain(broker, "save-server") == []
    assert job.as_document()["rate"] > 0


def test_replay_to_a_missing_queue_fails_with_the_error(sqlite_storage, broker, events):
    service = replay_service(sqlite_storage, broker)
    job = service.start(EventQuery(), "no-such-queue")
    service.wait(job.id, 5)
    assert job.state is ReplayState.FAILED
    assert "no-such-queue" in job.errors[0] and job.events_sent == 0


class GatedPublisher(EmbeddedReplayPublisher):
    """Lets the test hold the replay between two pages."""

    def __init__(self, broker, gate: threading.Semaphore) -> None:
        super().__init__(broker, EXCHANGE)
        self._gate = gate

    def send(self, target, pages, on_sent):
        def gated():
            for page in pages:
                self._gate.acquire()
                yield page

        super().send(target, gated(), on_sent)


def test_a_cancelled_replay_stops_after_the_page_in_flight(sqlite_storage, broker, events):
    gate = threading.Semaphore(2)
    service = ReplayService(sqlite_storage, lambda: GatedPublisher(broker, gate), page_size=1)
    job = service.start(EventQuery(), "all")
    deadline = time.monotonic() + 5
    while job.events_sent < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert service.cancel(job.id) is job
    gate.release()  # the page in flight goes out, then the job notices the cancel
    service.wait(job.id, 5)
    assert job.state is ReplayState.CANCELLED
    assert job.events_sent == 3
    assert len(drain(broker, "listener")) == 3


def test_replay_to_all_does_not_block_live_ingestion_and_stores_nothing_twice(
        sqlite_storage, broker, make_event):
    feed = EmbeddedEventFeed(broker, "event-store", EXCHANGE, "event-store.dead-letter")
    history = [make_event(received_at=T0 + timedelta(milliseconds=i)) for i in range(2000)]
    sqlite_storage.save_many(history)
    stop = threading.Event()
    worker = IngestWorker(feed, sqlite_storage, BatchPolicy(max_wait=0.02, idle_wait=0.05))
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        service = replay_service(sqlite_storage, broker, page_size=200)
        job = service.start(EventQuery(), "all")
        live = make_event(received_at=datetime.now(UTC))
        broker.publish(EXCHANGE, live.type, live.body)
        deadline = time.monotonic() + 10
        while sqlite_storage.get(live.event_id) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sqlite_storage.get(live.event_id) is not None
        service.wait(job.id, 10)
        assert job.state is ReplayState.COMPLETED and job.events_sent == 2000
        while broker.depth("event-store") and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert sqlite_storage.stats(None, None).total == 2001
    finally:
        stop.set()
        thread.join(5)


def test_replay_api_starts_reports_and_cancels_jobs(sqlite_storage, broker, events, authorize):
    app = build_app(sqlite_storage, lambda: EmbeddedReplayPublisher(broker, EXCHANGE))
    with TestClient(app, headers=authorize(app)) as client:
        response = client.post("/replays", json={"target": "listener", "type": [START]})
        assert response.status_code == 202
        job = response.json()
        assert response.headers["location"] == f"/replays/{job['id']}"
        assert job["target"] == "listener" and job["filters"]["type"] == [START]
        app.state.replays.wait(job["id"], 5)
        status = client.get(f"/replays/{job['id']}").json()
        assert (status["state"], status["events_sent"], status["errors"]) == ("completed", 2, [])
        assert [j["id"] for j in client.get("/replays").json()] == [job["id"]]
        assert client.delete(f"/replays/{job['id']}").status_code == 202
        assert client.post(f"/replays/{job['id']}/cancel").status_code == 202
        assert client.get("/replays/unknown").status_code == 404
        assert client.delete("/replays/unknown").status_code == 404
        assert client.post("/replays/unknown/cancel").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({}, "target"),
    ({"target": ""}, "target"),
    ({"target": "all", "start_date": "soon"}, "start_date"),
    ({"target": "all", "start_date": "2026-11-25T10:00:00Z",
      "end_date": "2026-11-25T09:00:00Z"}, "end_date"),
    ({"target": "all", "type": "not-a-list"}, "type"),
    ({"target": "all", "colour": "red"}, "colour"),
])
def test_bad_replay_requests_get_422_naming_the_field(sqlite_storage, broker, body, field,
                                                      authorize):
    app = build_app(sqlite_storage, lambda: EmbeddedReplayPublisher(broker, EXCHANGE))
    with TestClient(app, headers=authorize(app)) as client:
        response = client.post("/replays", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_only_the_last_finished_jobs_are_kept_in_memory(sqlite_storage, broker, monkeypatch):
    from event_store.service import replay

    monkeypatch.setattr(replay, "KEEP_JOBS", 3)
    service = replay_service(sqlite_storage, broker)
    jobs = []
    for _ in range(5):
        jobs.append(service.start(EventQuery(), "listener"))
        service.wait(jobs[-1].id, 5)
    assert [job.id for job in service.jobs()] == [job.id for job in jobs[-3:]]
    assert service.get(jobs[0].id) is None
