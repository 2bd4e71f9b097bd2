"""The reports HTTP API: subscriptions CRUD, 422 naming the field, runs, send-now, CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from save_server.infrastructure.api.app import create_app
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration


@pytest.fixture
def api(container: Any, clock: Any, smtp_server: Any,
        make_reports: Any) -> Iterator[tuple[TestClient, Any]]:
    server = smtp_server()
    clock.now = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    reports = make_reports(server)
    with TestClient(create_app(
            container.api_dependencies(), container.access_control(), reports),
            headers=grant(container)) as client:
        yield client, server


def field_of(response: Any) -> list[Any]:
    assert response.status_code == 422, response.text
    return [tuple(error["loc"]) for error in response.json()["detail"]]


def test_subscription_crud(api: tuple[TestClient, Any]) -> None:
    client, _ = api
    created = client.post("/report-subscriptions", json={
        "recipients": ["admin@save.example"], "station_ids": ["CP-1"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["schedule"] == "0 23 * * SUN" and body["timezone"] == "America/Sao_Paulo"
    assert body["station_ids"] == ["CP-1"] and body["id_tags"] == [] and body["enabled"]
    assert body["next_run_at"] == "2026-11-09T02:00:00Z" and body["origin"] == "api"
    sid = body["id"]
    assert client.get(f"/report-subscriptions/{sid}").json() == body
    assert [s["id"] for s in client.get("/report-subscriptions").json()] == [sid]

    patched = client.patch(f"/report-subscriptions/{sid}", json={
        "recipients": ["a@save.example", "b@save.example"], "timezone": "Europe/Berlin"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["recipients"] == ["a@save.example", "b@save.example"]
    assert patched.json()["timezone"] == "Europe/Berlin"
    assert patched.json()["station_ids"] == ["CP-1"]  # kept
    assert patched.json()["next_run_at"] == "2026-11-08T22:00:00Z"

    replaced = client.put(f"/report-subscriptions/{sid}", json={
        "recipients": ["c@save.example"], "schedule": "0 7 * * MON"})
    assert replaced.json()["station_ids"] == [] and replaced.json()["schedule"] == "0 7 * * MON"

    assert client.delete(f"/report-subscriptions/{sid}").status_code == 204
    assert client.get(f"/report-subscriptions/{sid}").status_code == 404
    assert client.delete(f"/report-subscriptions/{sid}").status_code == 404
    assert client.patch(f"/report-subscriptions/{sid}", json={"enabled": False}
                        ).status_code == 404
    assert client.get("/report-subscriptions").json() == []


@pytest.mark.parametrize(("body", "field"), [
    ({"recipients": ["not-an-address"]}, ("body", "recipients")),
    ({"recipients": []}, ("body", "recipients")),
    ({}, ("body", "recipients")),
    ({"recipients": ["a@save.example"], "schedule": "every sunday"}, ("body", "schedule")),
    ({"recipients": ["a@save.example"], "schedule": "0 25 * * *"}, ("body", "schedule")),
    ({"recipients": ["a@save.example"], "timezone": "America/Atlantis"}, ("body", "timezone")),
    ({"recipients": ["a@save.example"], "colour": "blue"}, ("body", "colour")),
])
def test_bad_subscription_input_is_422_naming_the_field(api: tuple[TestClient, Any],
                                                        body: dict[str, Any],
                                                        field: tuple[str, str]) -> None:
    client, _ = api
    assert field in field_of(client.post("/report-subscriptions", json=body))


def test_bad_updates_are_422_naming_the_field(api: tuple[TestClient, Any]) -> None:
    client, _ = api
    sid = client.post("/report-subscriptions", json={"recipients": ["a@save.example"]}
                      ).json()["id"]
    assert ("body", "timezone") in field_of(client.patch(
        f"/report-subscriptions/{sid}", json={"timezone": "Nowhere"}))
    assert ("body", "schedule") in field_of(client.patch(
        f"/report-subscriptions/{sid}", json={"schedule": "* * *"}))
    assert ("body", "recipients") in field_of(client.patch(
        f"/report-subscriptions/{sid}", json={"recipients": ["x@"]}))
    assert ("body",) in field_of(client.patch(f"/report-subscriptions/{sid}", json={}))
    assert client.get(f"/report-subscriptions/{sid}").json()["timezone"] == "America/Sao_Paulo"


def test_send_now_reports_the_chosen_window_once(api: tuple[TestClient, Any], charger: Any,
                                                 feed_events: Any) -> None:
    client, server = api
    station = charger(f"CP-{uuid.uuid4().hex[:6]}")
    feed_events(station.start(1, 7, 100, id_tag="RFID-9",
                              at=datetime(2026, 11, 2, 9, tzinfo=UTC)),
                station.stop(7, 5100, "Remote", at=datetime(2026, 11, 2, 10, tzinfo=UTC)))
    sid = client.post("/report-subscriptions", json={"recipients": ["a@save.example"]}
                      ).json()["id"]
    window = {"start": "2026-11-02T00:00:00-03:00", "end": "2026-11-03T00:00:00-03:00"}
    sent = client.post(f"/report-subscriptions/{sid}/send-now", json=window)
    assert sent.status_code == 200, sent.text
    run = sent.json()
    assert (run["state"], run["trigger"], run["charge_count"]) == ("sent", "operator", 1)
    assert run["window_start"] == "2026-11-02T03:00:00Z"
    assert len(server.mailbox.received) == 1
    [part] = list(server.mailbox.received[0].message.iter_attachments())
    assert b"RFID-9" in part.get_payload(decode=True)

    again = client.post(f"/report-subscriptions/{sid}/send-now", json=window)
    assert again.status_code == 409 and len(server.mailbox.received) == 1
    assert [r["id"] for r in client.get("/reports/runs").json()] == [run["id"]]
    assert client.get("/reports/runs", params={"subscription_id": sid + 1}).json() == []

    assert ("body", "end") in field_of(client.post(
        f"/report-subscriptions/{sid}/send-now",
        json={"start": window["end"], "end": window["start"]}))
    assert ("body", "start") in field_of(client.post(
        f"/report-subscriptions/{sid}/send-now", json={"start": "yesterday", "end": "now"}))
    assert client.post("/report-subscriptions/999999/send-now", json=window
                       ).status_code == 404
    assert ("query", "state") in field_of(client.get("/reports/runs",
                                                     params={"state": "lost"}))


def test_charges_csv_download_uses_the_report_builder(api: tuple[TestClient, Any],
                                                      charger: Any, feed_events: Any) -> None:
    client, _ = api
    station, other = charger(f"CP-{uuid.uuid4().hex[:6]}"), charger(f"CP-{uuid.uuid4().hex[:6]}")
    end = datetime(2026, 11, 2, 10, tzinfo=UTC)
    feed_events(station.start(1, 1, 0, id_tag="RFID-1", at=end - timedelta(hours=2)),
                station.stop(1, 3000, "PowerLoss", at=end),
                other.start(1, 1, 0, at=end - timedelta(hours=1)),
                other.stop(1, 10, "Local", at=end))
    response = client.get("/reports/charges.csv", params={
        "start_date": "2026-11-02T00:00:00Z", "end_date": "2026-11-03T00:00:00Z",
        "timezone": "Europe/Lisbon", "charging_station_id": station.station_id})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert [(r["station_id"], r["id_tag"], r["ended_at"], r["energy_kwh"], r["status"],
             r["stop_reason"], r["duration"]) for r in rows] == [
        (station.station_id, "RFID-1", "2026-11-02T10:00:00+00:00", "3.000", "error",
         "PowerLoss", "2:00:00")]
    both = client.get("/reports/charges.csv", params={
        "start_date": "2026-11-02T00:00:00Z", "end_date": "2026-11-02T10:00:00Z"})
    assert len(list(csv.DictReader(io.StringIO(both.text, newline="")))) == 0  # end exclusive


@pytest.mark.parametrize(("params", "field"), [
    ({"end_date": "2026-11-03T00:00:00Z"}, ("query", "start_date")),
    ({"start_date": "2026-11-03T00:00:00Z"}, ("query", "end_date")),
    ({"start_date": "2026-11-03", "end_date": "2026-11-02"}, ("query", "end_date")),
    ({"start_date": "soon", "end_date": "2026-11-02"}, ("query", "start_date")),
    ({"start_date": "2026-11-01", "end_date": "2026-11-02", "timezone": "Moon/Base"},
     ("query", "timezone")),
])
def test_bad_csv_query_is_422_naming_the_parameter(api: tuple[TestClient, Any],
                                                   params: dict[str, str],
                                                   field: tuple[str, str]) -> None:
    client, _ = api
    assert field in field_of(client.get("/reports/charges.csv", params=params))


def test_the_service_app_answers_an_operator_after_one_attempt(container: Any,
                                                              clock: Any) -> None:
    """`Container.app()` (what `python -m save_server api` serves): SMTP from settings; a send
    that cannot connect is reported failed at once, with the error, not after backoff."""
    import socket

    with socket.socket() as unused:  # bound then closed: nothing listens there
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    container.settings.smtp_host, container.settings.smtp_port = "127.0.0.1", port
    container.settings.smtp_security = "none"
    with TestClient(container.app(), headers=grant(container)) as client:
        sid = client.post("/report-subscriptions", json={"recipients": ["a@save.example"]}
                          ).json()["id"]
        run = client.post(f"/report-subscriptions/{sid}/send-now", json={
            "start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}).json()
        assert (run["state"], run["attempts"]) == ("failed", 1)
        assert "Connection refused" in run["last_error"]
        listed = client.get("/reports/runs", params={"state": "failed"}).json()
        assert [r["id"] for r in listed] == [run["id"]]


def test_a_scoped_operator_gets_only_its_stations_in_the_csv_and_no_subscriptions(
        api: tuple[TestClient, Any], container: Any, make_reports: Any, smtp_server: Any,
        charger: Any, feed_events: Any) -> None:
    """docs/api.md: a station outside a scoped account's scope never appears in its CSVs;
    report subscriptions and runs cover the whole network (other buildings' recipients, every
    group's usage), so a scoped account has none of them."""
    client, _ = api
    mine, theirs = charger(f"CP-{uuid.uuid4().hex[:6]}"), charger(f"CP-{uuid.uuid4().hex[:6]}")
    end = datetime(2026, 11, 2, 10, tzinfo=UTC)
    feed_events(mine.start(1, 1, 0, at=end - timedelta(hours=1)), mine.stop(1, 10, at=end),
                theirs.start(1, 1, 0, at=end - timedelta(hours=1)), theirs.stop(1, 10, at=end))
    sid = client.post("/report-subscriptions", json={"recipients": ["other@save.example"]}
                      ).json()["id"]
    window = {"start_date": "2026-11-02T00:00:00Z", "end_date": "2026-11-03T00:00:00Z"}
    with TestClient(create_app(container.api_dependencies(), container.access_control(),
                               make_reports(smtp_server())),
                    headers=grant(container, "operator", [mine.station_id])) as scoped:
        for params in (window, {**window, "charging_station_id": [mine.station_id,
                                                                   theirs.station_id]}):
            answer = scoped.get("/reports/charges.csv", params=params)
            assert answer.status_code == 200, answer.text
            rows = list(csv.DictReader(io.StringIO(answer.text, newline="")))
            assert [r["station_id"] for r in rows] == [mine.station_id]
        only_theirs = scoped.get("/reports/charges.csv",
                                 params={**window, "charging_station_id": theirs.station_id})
        assert list(csv.DictReader(io.StringIO(only_theirs.text, newline=""))) == []
        refused = [
            scoped.get("/report-subscriptions"), scoped.get(f"/report-subscriptions/{sid}"),
            scoped.post("/report-subscriptions", json={"recipients": ["me@save.example"],
                                                       "group_usage": True}),
            scoped.patch(f"/report-subscriptions/{sid}", json={"enabled": False}),
            scoped.put(f"/report-subscriptions/{sid}", json={"recipients": ["me@save.example"]}),
            scoped.post(f"/report-subscriptions/{sid}/send-now", json={
                "start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}),
            scoped.get("/reports/runs"), scoped.post("/reports/runs/1/retry"),
            scoped.delete(f"/report-subscriptions/{sid}")]
        assert [r.status_code for r in refused] == [403] * len(refused)
    assert client.get(f"/report-subscriptions/{sid}").json()["enabled"] is True
