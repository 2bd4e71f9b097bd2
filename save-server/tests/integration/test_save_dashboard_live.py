"""The dashboard's live and operational parts over the app (TestClient): the idle timeout the
server enforces, the sites page with its power gauge, connectors' state history, profile
refusals in the overview."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from save_server.bootstrap import Container
from save_server.domain.access import Role
from save_server.domain.load.ports import AllocationRound
from save_server.infrastructure.dashboard.charts import CHART_POLICY
from save_server.infrastructure.dashboard.rendering import CONTENT_SECURITY_POLICY
from save_server.infrastructure.dashboard.session import Sessions
from save_server.infrastructure.load.store import SqlLoadStore
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from tests.support.api_keys import grant

PASSWORD = "correct horse battery staple"
DASH = "\u2013"  # the pages' "no value"


def feed(container: Container, events: list[dict[str, Any]]) -> None:
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))


def signed_in(container: Container, role: str = "operator", **scope: Any) -> TestClient:
    client = TestClient(container.app(), headers={"Accept-Language": "en"})
    email = f"{role}-{uuid.uuid4().hex[:6]}@save.example"
    container.access_control().accounts.create_account(email, "Staff", Role(role), PASSWORD,
                                                       by="test", **scope)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/sign-in").text)
    assert token is not None
    response = client.post("/ui/sign-in", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": token.group(1)},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _clocked(client: TestClient) -> MovableClock:
    clock = MovableClock()
    sessions: Sessions = client.app.state.dashboard_sessions  # type: ignore[attr-defined]
    assert sessions.stamps is not None
    sessions.stamps.clock = clock
    return clock


def test_an_idle_session_is_refused_by_the_server_though_the_browser_keeps_its_cookies(
        container: Container) -> None:
    client = signed_in(container)
    clock = _clocked(client)
    assert client.get("/ui/overview", follow_redirects=False).status_code == 200
    clock.now += timedelta(minutes=31)  # the idle timeout is 30 min; the cookies are kept
    refused = client.get("/ui/overview", follow_redirects=False)
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/ui/sign-in?next=")
    container.access_control().authenticator.refresh(force=True)
    again = TestClient(container.app(), cookies=dict(client.cookies))
    assert again.get("/ui/overview", follow_redirects=False).status_code == 303  # ended


def test_each_page_slides_the_idle_timeout_but_the_live_feeds_do_not(
        container: Container) -> None:
    client = signed_in(container)
    clock = _clocked(client)
    for _ in range(3):  # 60 minutes in all, never 30 idle
        clock.now += timedelta(minutes=20)
        assert client.get("/ui/overview", follow_redirects=False).status_code == 200
    clock.now += timedelta(minutes=20)
    assert client.get("/ui/overview/counts").status_code == 200  # background: not activity
    clock.now += timedelta(minutes=11)
    assert client.get("/ui/overview/counts").status_code == 401


def test_a_missing_or_forged_activity_stamp_is_refused(container: Container) -> None:
    client = signed_in(container)
    stamp = client.cookies.get("csms_active")
    assert stamp
    client.cookies.set("csms_active", stamp[:-4] + "AAAA")
    assert client.get("/ui/overview", follow_redirects=False).status_code == 303
    other = signed_in(container)
    access = other.cookies.get("csms_access")
    del other.cookies["csms_active"]
    assert other.get("/ui/overview", follow_redirects=False).status_code == 303
    # the stamp is no bearer token: the API refuses it
    assert other.get("/charging-stations",
                     headers={"Authorization": f"Bearer {stamp}"}).status_code == 401
    assert access


def test_the_overview_puts_stations_with_refused_profiles_first_with_a_badge(
        container: Container, charger: Callable[..., Any]) -> None:
    fine, refused = charger(), charger()
    feed(container, [fine.boot(), refused.boot()])
    row = {"charging_station_id": refused.station_id, "connector_id": 1,
           "last_profile": {"result": "rejected", "limit_a": 6.0}, "failsafe": None}
    SqlLoadStore(container.engine).record_rounds([AllocationRound(
        f"site-{uuid.uuid4().hex[:6]}", {"connectors": [row]}, datetime.now(UTC))])
    client = signed_in(container)
    page = client.get("/ui/overview").text
    assert page.index(refused.station_id) < page.index(fine.station_id)
    badge = re.search(rf'{refused.station_id}</a>.*?</th>', page, re.S)
    assert badge is not None and "charging profile refused" in badge.group(0)
    only = client.get("/ui/overview", params={"state": "profile_refused"}).text
    assert refused.station_id in only and fine.station_id not in only


def _site_with_power(container: Container, queue: bool = True) -> tuple[str, str, str]:
    """A three-phase site of two stations, and a power document as the load manager keeps
    it: A charging at 16 A, B paused first in the queue."""
    api = TestClient(container.app(), headers=grant(container, "admin"))
    site_id = api.post("/sites", json={"name": f"Garagem {uuid.uuid4().hex[:6]}"}).json()[
        "site_id"]
    a, b = (f"LIVE-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for station_id in (a, b):
        assert api.post("/charging-stations", json={
            "charging_station_id": station_id, "security_profile": 0,
            "site_id": site_id}).status_code == 201
    answer = api.put(f"/sites/{site_id}/electrical", json={
        "supply": "three-phase", "voltage_v": 220, "limit_a": 63,
        "connectors": [{"charging_station_id": s, "connector_id": 1,
                        "phases": ["L1", "L2", "L3"]} for s in (a, b)]})
    assert answer.status_code == 200, answer.text
    _save_power(container, site_id, a, b, 16.0)
    return site_id, a, b


def _save_power(container: Container, site_id: str, a: str, b: str, amps: float) -> None:
    now = datetime.now(UTC)
    row = {"connector_id": 1, "counted_a": None, "measured_at": None, "car_max_a": None,
           "rotation": None, "failsafe": None}
    SqlLoadStore(container.engine).record_rounds([AllocationRound(site_id, {
        "site_id": site_id, "supply": "three-phase", "limit_a": 63.0, "margin": 0.05,
        "usable_a": 59.85, "computed_at": now.isoformat(), "available_a": None,
        "building": {"per_phase_a": {"L1": 0.0, "L2": 0.0, "L3": 0.0}, "source": "none",
                     "measured_at": None},
        "overloaded": [],
        "connectors": [
            {**row, "charging_station_id": a, "state": "charging", "allocation_a": amps,
             "measured_a": amps - 1, "last_profile": {"limit_a": amps, "result": "accepted",
                                                      "sent_at": None}},
            {**row, "charging_station_id": b, "state": "paused", "allocation_a": 0.0,
             "measured_a": None, "last_profile": {"limit_a": 0.0, "result": "rejected",
                                                  "sent_at": None}}],
        "queue": [{"charging_station_id": b, "connector_id": 1}],
        "stations_never_accepting_profiles": [b]}, now)])


def test_the_site_page_shows_the_power_per_phase_the_connectors_and_the_queue(
        container: Container) -> None:
    site_id, _, b = _site_with_power(container)
    client = signed_in(container)
    page = client.get(f"/ui/sites/{site_id}")
    assert page.status_code == 200
    text = page.text
    assert text.count('<tr data-phase="') == 3
    row = re.search(r'<tr data-phase="L2">(.*?)</tr>', text, re.S)
    assert row is not None
    assert "63.0 A" in row.group(1) and "59.8 A" in row.group(1)  # limit, usable
    assert "16.0 A" in row.group(1) and "15.0 A" in row.group(1)  # allocated, measured
    assert re.search(r'<ol class="queue">\s*<li>' + b, text)
    assert "rejected" in text and 'class="gauge"' in text
    assert f'<img class="chart" src="/ui/sites/{site_id}/history.svg"' in text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY  # strict
    history = client.get(f"/ui/sites/{site_id}/history.svg")  # no event-store here
    assert history.status_code == 503
    assert history.headers["content-type"] == "image/svg+xml"
    assert history.headers["content-security-policy"] == CHART_POLICY
    assert "The allocation history is not available" in history.text
    listing = client.get("/ui/sites").text
    assert f'/ui/sites/{site_id}"' in listing and "32.0 / 59.8 A" not in listing
    assert "16.0 / 59.8 A" in listing
    pt = client.get(f"/ui/sites/{site_id}", headers={"Accept-Language": "pt-BR"},
                    cookies={"csms_lang": "pt_BR"}).text
    assert "Potência por fase" in pt and "Fila de rodízio" in pt and "59,8 A" in pt


def test_a_viewer_of_another_site_gets_404_and_does_not_see_it_listed(
        container: Container) -> None:
    site_id, _, _ = _site_with_power(container)
    other = TestClient(container.app(), headers=grant(container, "admin")).post(
        "/sites", json={"name": "Outro"}).json()["site_id"]
    viewer = signed_in(container, "viewer", site_scope=[other])
    assert viewer.get(f"/ui/sites/{site_id}").status_code == 404
    assert viewer.get(f"/ui/live/sites/{site_id}/power").status_code == 404
    refused = viewer.get(f"/ui/sites/{site_id}/history.svg")
    assert refused.status_code == 404
    assert refused.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert site_id not in viewer.get("/ui/sites").text


def test_the_site_stream_says_power_when_the_allocation_changes_and_the_fragment_follows(
        container: Container) -> None:
    site_id, a, b = _site_with_power(container)
    client = signed_in(container)
    timer = threading.Timer(1.5, _save_power, (container, site_id, a, b, 20.0))
    timer.start()
    with client.stream("GET", f"/ui/live/sites/{site_id}") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert any(line == "event: power" for line in lines)
    timer.join()
    fragment = client.get(f"/ui/live/sites/{site_id}/power").text
    assert "<html" not in fragment and 'id="part-gauge"' in fragment
    assert "20.0 A" in fragment


def test_the_station_page_lists_each_connectors_state_history_newest_first(
        container: Container, charger: Callable[..., Any]) -> None:
    station = charger()
    feed(container, [station.boot(), station.status(1, "Available"),
                     station.status(1, "Faulted", "GroundFailure"),
                     station.status(2, "Preparing"), station.start(1, 7, 1000, "TAG-H")])
    page = signed_in(container).get(f"/ui/stations/{station.station_id}").text
    history = re.search(r'<table class="state-history">(.*?)</table>', page, re.S)
    assert history is not None
    rows = re.findall(r"<tr><td>[^<]*</td><td>(\d+)</td><td><span class=\"badge conn-(\w+)\">"
                      r".*?</td><td>([^<]*)</td><td>([^<]*)</td></tr>", history.group(1))
    assert rows[0] == ("1", "in_use", DASH, "a charge")  # the start, newest
    assert ("1", "faulted", "GroundFailure", "the station") in rows
    assert ("2", "in_use", DASH, "the station") in rows  # Preparing
    assert rows[-1] == ("1", "available", DASH, "the station")
    assert 'id="live-parts"' in page and 'id="part-connectors" data-part' in page


def test_the_station_stream_says_changed_when_the_station_moves_and_the_parts_follow(
        container: Container, charger: Callable[..., Any]) -> None:
    station, other = charger(), charger()
    feed(container, [station.boot(), other.boot()])
    client = signed_in(container)

    def later() -> None:
        feed(container, [other.status(1, "Faulted", "GroundFailure")])
        time.sleep(1.0)  # a tick with another station only: nothing for this page
        feed(container, [station.status(1, "Faulted", "PowerMeterFailure")])

    mover = threading.Timer(1.5, later)
    mover.start()
    with client.stream("GET", f"/ui/live/stations/{station.station_id}") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        started = time.monotonic()
        for line in stream.iter_lines():
            if line == "event: changed":
                break
        assert time.monotonic() - started > 2.0  # not on the other station's change
    mover.join()
    parts = client.get(f"/ui/live/stations/{station.station_id}/parts").text
    assert "<html" not in parts and "PowerMeterFailure" in parts
    assert 'id="part-state" data-part' in parts and "state-faulted" in parts


def test_a_viewer_of_another_site_cannot_follow_a_station(
        container: Container, charger: Callable[..., Any]) -> None:
    station = charger()
    feed(container, [station.boot()])
    other = TestClient(container.app(), headers=grant(container, "admin")).post(
        "/sites", json={"name": "Outro"}).json()["site_id"]
    viewer = signed_in(container, "viewer", site_scope=[other])
    for path in (f"/ui/live/stations/{station.station_id}",
                 f"/ui/live/stations/{station.station_id}/parts"):
        assert viewer.get(path).status_code == 404


def test_the_site_stream_ends_when_the_server_stops(container: Container) -> None:
    site_id, _, _ = _site_with_power(container)
    client = signed_in(container)
    feed = client.app.state.dashboard_feed  # type: ignore[attr-defined]
    stopping = threading.Timer(1.0, feed.close)
    stopping.start()
    started = time.monotonic()
    with client.stream("GET", f"/ui/live/sites/{site_id}") as stream:
        assert [line for line in stream.iter_lines() if line.startswith("event:")] == []
    assert time.monotonic() - started < 10  # not the stream's 25 s
    stopping.join()
