"""The query API over a real SQLite store: filters, order, pagination, errors, operations."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from event_store.bootstrap import build_app

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
START, STOP = "ocpp-events.start-transaction", "ocpp-events.stop-transaction"


@pytest.fixture
def client(sqlite_storage, authorize):
    app = build_app(sqlite_storage, publisher_factory=None)
    with TestClient(app, headers=authorize(app)) as client:
        yield client


@pytest.fixture
def stored(sqlite_storage, make_event):
    def store(**fields):
        event = make_event(**fields)
        sqlite_storage.save_many([event])
        return event
    return store


def next_link(response) -> str | None:
    match = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers.get("link", ""))
    return match.group(1) if match else None


def test_events_are_listed_oldest_first_with_the_envelope(client, stored):
    late = stored(received_at=T0 + timedelta(minutes=5), payload={"n": 2})
    early = stored(received_at=T0, payload={"n": 1})
    response = client.get("/events")
    assert response.status_code == 200
    body = response.json()
    assert [e["event_id"] for e in body] == [early.event_id, late.event_id]
    assert body[0]["date"] == "2026-11-25T08:00:00.000000Z"
    assert body[0]["payload"] == {"n": 1}
    assert body[0]["type"] == "ocpp-events.heart-beat"
    assert body[0]["charging_station_id"] == "CP-1"
    assert body[0]["connection_id"] and body[0]["gateway_extra_field"] == "kept as received"
    assert "link" not in response.headers


def test_filters_combine_and_type_is_repeatable(client, stored):
    wanted = [stored(station="CP-A", event_type=START, received_at=T0),
              stored(station="CP-A", event_type=STOP, received_at=T0 + timedelta(hours=1))]
    stored(station="CP-A", event_type="ocpp-events.heart-beat", received_at=T0)
    stored(station="CP-B", event_type=START, received_at=T0)
    stored(station="CP-A", event_type=START, received_at=T0 - timedelta(seconds=1))
    response = client.get("/events", params={
        "type": [START, STOP], "charging_station_id": "CP-A",
        "start_date": "2026-11-25T08:00:00Z", "end_date": "2026-11-25T10:00:00+01:00"})
    assert [e["event_id"] for e in response.json()] == [e.event_id for e in wanted]


def test_keyset_pagination_follows_the_link_header_to_the_end(client, stored):
    events = [stored(station="CP-P", received_at=T0 + timedelta(seconds=i)) for i in range(7)]
    url, seen, pages = "/events?charging_station_id=CP-P&limit=3", [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += [e["event_id"] for e in response.json()]
        url, pages = next_link(response), pages + 1
        if url:
            assert "charging_station_id=CP-P" in url and "limit=3" in url
    assert pages == 3
    assert seen == [e.event_id for e in events]


@pytest.mark.parametrize(("params", "parameter"), [
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"end_date": "2026-13-01"}, "end_date"),
    ({"start_date": "2026-11-25T10:00:00Z", "end_date": "2026-11-25T09:00:00Z"}, "end_date"),
    ({"start_date": "2026-11-25T10:00:00", "end_date": "2026-11-25T10:00:00+02:00"}, "end_date"),
    ({"after": "not-a-cursor!"}, "after"),
])
def test_bad_parameters_get_422_naming_the_parameter(client, params, parameter):
    response = client.get("/events", params=params)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", parameter]]


def test_limit_of_1000_is_accepted(client, stored):
    stored()
    assert client.get("/events", params={"limit": 1000}).status_code == 200


def test_one_event_by_id_or_404(client, stored):
    event = stored(station="CP-X")
    response = client.get(f"/events/{event.event_id}")
    assert response.status_code == 200
    assert response.json()["charging_station_id"] == "CP-X"
    missing = client.get(f"/events/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert "no event" in missing.json()["detail"]


def test_stats_count_per_type_and_day(client, stored):
    stored(event_type=START, received_at=T0)
    stored(event_type=STOP, received_at=T0 + timedelta(hours=1))
    stored(event_type=STOP, received_at=T0 + timedelta(days=1))
    response = client.get("/events/stats", params={"start_date": "2026-11-25T00:00:00Z",
                                                   "end_date": "2026-11-25T23:59:59Z"})
    assert response.status_code == 200
    assert response.json() == {"start_date": "2026-11-25T00:00:00.000000Z",
                               "end_date": "2026-11-25T23:59:59.000000Z", "total": 2,
                               "by_type": {START: 1, STOP: 1}, "by_day": {"2026-11-25": 2}}
    assert client.get("/events/stats").json()["by_day"] == {"2026-11-25": 2, "2026-11-26": 1}
    bad = client.get("/events/stats", params={"start_date": "nope"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "start_date"]


def test_health_ready_and_metrics(client, sqlite_storage):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "checks": {"database": True}}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "event_store_events_stored_total" in metrics.text
    sqlite_storage.close()
    not_ready = client.get("/ready")
    assert not_ready.status_code == 503
    assert "closed" in not_ready.json()["error"]


def test_request_latency_is_observed_per_route_and_status(client):
    def count(route: str, status: str) -> float:
        line = (f'event_store_http_request_seconds_count{{method="GET",route="{route}",'
                f'status="{status}"}}')
        found = [row for row in client.get("/metrics").text.splitlines()
                 if row.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    before_ok, before_missing = count("/events", "200"), count("/events/{event_id}", "404")
    assert client.get("/events").status_code == 200
    assert client.get("/events/no-such-id").status_code == 404
    assert count("/events", "200") == before_ok + 1
    assert count("/events/{event_id}", "404") == before_missing + 1


def test_replay_without_a_broker_is_503(client):
    response = client.post("/replays", json={"target": "all"})
    assert response.status_code == 503
    assert "AMQP_URL" in response.json()["detail"]


def test_openapi_documents_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/events", "/events/{event_id}", "/events/stats", "/replays",
            "/replays/{replay_id}", "/replays/{replay_id}/cancel"} <= set(paths)
