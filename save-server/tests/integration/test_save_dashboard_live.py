"""The dashboard's live and operational parts over the app (TestClient): the idle timeout the
server enforces, the sites page with its power gauge, connectors' state history, profile
refusals in the overview."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from save_server.bootstrap import Container
from save_server.domain.access import Role
from save_server.infrastructure.dashboard.session import Sessions
from save_server.infrastructure.load.store import SqlLoadStore
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event

PASSWORD = "correct horse battery staple"


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
    SqlLoadStore(container.engine).save_power(f"site-{uuid.uuid4().hex[:6]}", {
        "connectors": [row]}, datetime.now(UTC))
    client = signed_in(container)
    page = client.get("/ui/overview").text
    assert page.index(refused.station_id) < page.index(fine.station_id)
    badge = re.search(rf'{refused.station_id}</a>.*?</th>', page, re.S)
    assert badge is not None and "charging profile refused" in badge.group(0)
    only = client.get("/ui/overview", params={"state": "profile_refused"}).text
    assert refused.station_id in only and fine.station_id not in only
