"""The staff dashboard over the app (TestClient): sign-in, cookies, CSRF, headers, escaping,
languages, roles and the viewer's scope, the same rules as the API's."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from save_server.bootstrap import Container
from save_server.domain.access import Role
from save_server.infrastructure.api.security import api_routes, requirements
from save_server.infrastructure.dashboard import PUBLIC_PAGES, is_dashboard_path
from save_server.infrastructure.dashboard.charts import CHART_POLICY
from save_server.infrastructure.dashboard.idle import is_background
from save_server.infrastructure.dashboard.rendering import CONTENT_SECURITY_POLICY
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from tests.support.api_keys import grant

PASSWORD = "correct horse battery staple"


def feed(container: Container, events: list[dict[str, Any]]) -> None:
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))


def account(container: Container, role: str = "operator", **scope: Any) -> str:
    email = f"{role}-{uuid.uuid4().hex[:6]}@save.example"
    container.access_control().accounts.create_account(email, "Staff", Role(role), PASSWORD,
                                                       by="test", **scope)
    return email


def csrf(client: TestClient, path: str = "/ui/sign-in") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def signed_in(container: Container, role: str = "operator", language: str = "en",
              **scope: Any) -> TestClient:
    client = TestClient(container.app(), headers={"Accept-Language": language})
    email = account(container, role, **scope)
    response = client.post("/ui/sign-in", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": csrf(client)},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def on_two_sites(container: Container, charger: Callable[..., Any]) -> tuple[Any, Any, Any]:
    """Two new chargers registered on two new sites: the first site, its charger, the other."""
    registry = container.access_control().registry
    azul, verde = registry.create_site("Azul", "test"), registry.create_site("Verde", "test")
    mine, theirs = charger(), charger()
    for station, site in ((mine, azul), (theirs, verde)):
        registry.register(station.station_id, 0, "test", site_id=site.site_id)
    return azul, mine, theirs


def test_only_the_sign_in_page_the_root_redirect_and_the_language_switch_are_public(
        container: Container) -> None:
    app = container.app()
    pages = [r for r in api_routes(app) if is_dashboard_path(r.path)]
    assert len(pages) >= 10
    public = {r.path for r in pages if requirements(r) is None}
    assert public == set(PUBLIC_PAGES)
    client = TestClient(app)
    for route in pages:
        if route.path in PUBLIC_PAGES:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in route.methods:
            response = client.request(method, path, follow_redirects=False)
            if method == "GET" and not is_background(path):
                assert response.status_code == 303, (method, path)
                assert response.headers["location"].startswith("/ui/sign-in?next=")
            else:
                assert response.status_code == 401, (method, path)


def test_sign_in_sets_http_only_strict_cookies_and_a_wrong_password_sets_none(
        container: Container) -> None:
    client = TestClient(container.app())
    email = account(container)
    token = csrf(client)
    wrong = client.post("/ui/sign-in", data={"email": email, "password": "nope-nope-nope",
                                             "csrf_token": token}, follow_redirects=False)
    assert wrong.status_code == 401
    assert "csms_access" not in wrong.headers.get("set-cookie", "")
    right = client.post("/ui/sign-in", data={"email": email, "password": PASSWORD,
                                             "csrf_token": token, "next": "//evil.example/"},
                        follow_redirects=False)
    assert right.status_code == 303
    assert right.headers["location"] == "/ui/overview"  # no open redirect
    cookies = [c for c in right.headers.get_list("set-cookie") if c.startswith("csms_")]
    assert len(cookies) == 3  # access, refresh, and the idle timeout's activity stamp
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=1800" in cookie
        assert "Secure" not in cookie  # plain http here; https below
    assert client.get("/ui/overview").status_code == 200


def test_cookies_are_secure_over_https(container: Container) -> None:
    client = TestClient(container.app(), base_url="https://csms.example")
    email = account(container)
    response = client.post("/ui/sign-in", data={"email": email, "password": PASSWORD,
                                                "csrf_token": csrf(client)},
                           follow_redirects=False)
    assert all("Secure" in c for c in response.headers.get_list("set-cookie"))


def test_state_changes_need_the_csrf_token_and_a_same_origin(
        container: Container, charger: Callable[..., Any]) -> None:
    station = charger()
    feed(container, [station.boot()])
    client = signed_in(container)
    path = f"/ui/stations/{station.station_id}/data"
    assert client.post(path, data={"name": "x"}).status_code == 400
    assert client.post(path, data={"name": "x", "csrf_token": "forged"}).status_code == 400
    token = csrf(client, f"/ui/stations/{station.station_id}")
    cross = client.post(path, data={"name": "x", "csrf_token": token},
                        headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    saved = client.post(path, data={"name": "Garagem B", "csrf_token": token},
                        follow_redirects=False)
    assert saved.status_code == 303
    assert "Garagem B" in client.get(f"/ui/stations/{station.station_id}").text


def test_sign_out_ends_the_session_on_the_server(container: Container) -> None:
    client = signed_in(container)
    access = client.cookies.get("csms_access")
    token = csrf(client, "/ui/overview")
    out = client.post("/ui/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    container.access_control().authenticator.refresh(force=True)
    replay = TestClient(container.app(), cookies={"csms_access": str(access)})
    assert replay.get("/ui/overview", follow_redirects=False).status_code == 303


def test_an_expired_access_cookie_is_renewed_with_the_refresh_cookie(
        container: Container) -> None:
    client = signed_in(container)
    client.cookies.set("csms_access", "not-a-token")
    response = client.get("/ui/overview", follow_redirects=False)
    assert response.status_code == 200
    assert any(c.startswith("csms_access=ey") for c in response.headers.get_list("set-cookie"))


def test_pages_carry_the_security_headers(container: Container) -> None:
    response = TestClient(container.app()).get("/ui/sign-in")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in response.text.replace('<script src="/ui/static/dashboard.js"', "")


def test_a_station_named_like_a_script_shows_as_text(
        container: Container, charger: Callable[..., Any]) -> None:
    station = charger()
    feed(container, [station.boot()])
    client = signed_in(container)
    token = csrf(client, "/ui/overview")
    client.post(f"/ui/stations/{station.station_id}/data",
                data={"name": "<script>alert(1)</script>", "csrf_token": token})
    for path in ("/ui/overview", f"/ui/stations/{station.station_id}"):
        text = client.get(path).text
        assert "<script>alert(1)</script>" not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path


def test_english_and_brazilian_portuguese_from_the_browser_and_the_switch(
        container: Container) -> None:
    english = signed_in(container, language="en-US,en;q=0.9")
    assert "Sign out" in english.get("/ui/overview").text
    portuguese = signed_in(container, language="pt-BR,pt;q=0.9,en;q=0.5")
    page = portuguese.get("/ui/overview").text
    assert "Sair" in page and 'lang="pt-BR"' in page
    token = csrf(portuguese, "/ui/overview")
    portuguese.post("/ui/language", data={"lang": "en", "csrf_token": token,
                                          "next": "/ui/overview"})
    assert "Sign out" in portuguese.get("/ui/overview").text
    assert portuguese.post("/ui/language", data={"lang": "xx", "csrf_token": token}
                           ).status_code == 400


def test_a_viewer_of_one_site_sees_only_that_site(
        container: Container, charger: Callable[..., Any]) -> None:
    azul, mine, theirs = on_two_sites(container, charger)
    feed(container, [mine.boot(), mine.start(1, 1, 0, "TAG-MINE"), mine.stop(1, 500),
                     theirs.boot(), theirs.start(1, 2, 0, "TAG-THEIRS"), theirs.stop(2, 900)])
    container.access_control().authenticator.refresh(force=True)
    viewer = signed_in(container, "viewer", site_scope=[azul.site_id])
    overview = viewer.get("/ui/overview").text
    assert mine.station_id in overview and theirs.station_id not in overview
    assert viewer.get(f"/ui/stations/{theirs.station_id}").status_code == 404
    assert viewer.get("/ui/overview/counts").json()["total"] == 1
    assert viewer.get(f"/ui/stations/{mine.station_id}").status_code == 200
    charges = viewer.get("/ui/charges").text
    assert "TAG-MINE" in charges and "TAG-THEIRS" not in charges
    csv_text = viewer.get("/ui/charges.csv", params={"station": theirs.station_id}).text
    assert "TAG-THEIRS" not in csv_text
    assert viewer.get("/ui/reports").status_code == 403  # viewers have no reports


def test_a_technician_gets_the_maintenance_commands_only(
        container: Container, charger: Callable[..., Any]) -> None:
    station = charger()
    feed(container, [station.boot()])
    technician = signed_in(container, "technician")
    page = technician.get(f"/ui/stations/{station.station_id}").text
    assert "/commands/reset" in page and "/commands/remote-start" not in page
    token = csrf(technician, f"/ui/stations/{station.station_id}")
    refused = technician.post(f"/ui/stations/{station.station_id}/commands/remote-start",
                              data={"id_tag": "T1", "csrf_token": token})
    assert refused.status_code == 403
    assert "Name, address and position" in page and 'name="latitude"' not in page


def test_a_disruptive_command_asks_for_confirmation_first(
        container: Container, charger: Callable[..., Any]) -> None:
    station = charger()
    feed(container, [station.boot()])
    client = signed_in(container)
    token = csrf(client, f"/ui/stations/{station.station_id}")
    first = client.post(f"/ui/stations/{station.station_id}/commands/reset",
                        data={"type": "hard", "csrf_token": token})
    assert first.status_code == 200
    assert 'name="confirmed" value="yes"' in first.text and 'value="hard"' in first.text
    bad = client.post(f"/ui/stations/{station.station_id}/commands/reset",
                      data={"type": "sideways", "csrf_token": token, "confirmed": "yes"})
    assert bad.status_code == 422


def test_charges_filter_totals_and_csv_are_the_same_rows(
        container: Container, charger: Callable[..., Any]) -> None:
    station = charger()
    feed(container, [station.boot(), station.start(1, 1, 1000, "TAG-A"),
                     station.stop(1, 2500), station.start(1, 2, 2500, "TAG-B"),
                     station.stop(2, 4000)])
    client = signed_in(container, language="pt-BR")
    page = client.get("/ui/charges", params={"station": station.station_id,
                                             "id_tag": "TAG-A"}).text
    assert "TAG-A" in page and "TAG-B" not in page
    assert re.search(r'id="total-energy">1,5 kWh<', page)
    rows = client.get("/ui/charges.csv", params={"station": station.station_id,
                                                 "id_tag": "TAG-A"}).text.strip().splitlines()
    assert len(rows) == 2 and "TAG-A" in rows[1]
    assert client.get("/ui/charges", params={"from": "2026-13-01"}).status_code == 400
    bad_page = client.get("/ui/overview", params={"page": "0"})
    assert bad_page.status_code == 400 and "<!doctype html>" in bad_page.text
    api = TestClient(container.app(), headers=grant(container)).get("/charges",
                                                                     params={"limit": "0"})
    assert api.status_code == 422 and api.json()["detail"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("role", ["viewer", "technician"])
def test_reports_need_the_reports_permission(container: Container, role: str) -> None:
    assert signed_in(container, role).get("/ui/reports").status_code == 403


def test_a_scoped_operator_gets_no_reports_page(container: Container) -> None:
    """Subscriptions and runs cover the whole network (as `/report-subscriptions`)."""
    scoped = signed_in(container, "operator", station_scope=["CP-MINE"])
    assert scoped.get("/ui/reports").status_code == 403
    assert signed_in(container, "operator").get("/ui/reports").status_code == 200


def test_the_registry_page_lists_the_callers_sites_and_adopts_an_unknown_station(
        container: Container, charger: Callable[..., Any]) -> None:
    registry = container.access_control().registry
    azul, verde = registry.create_site("Azul", "test"), registry.create_site("Verde", "test")
    mine, theirs = charger(), charger()
    registry.register(mine.station_id, 0, "test", site_id=azul.site_id)
    registry.register(theirs.station_id, 0, "test", site_id=verde.site_id)
    stranger = f"STRANGER-{uuid.uuid4().hex[:6]}"
    registry.record_unknown(str(uuid.uuid4()), stranger, datetime.now(UTC), "10.0.0.9",
                            ("ocpp1.6",))
    container.access_control().authenticator.refresh(force=True)
    viewer = signed_in(container, "viewer", site_scope=[azul.site_id])
    page = viewer.get("/ui/registry").text
    assert mine.station_id in page and theirs.station_id not in page
    assert "Verde" not in page and stranger not in page  # unknown ids: managers only
    operator = signed_in(container, "operator")
    page = operator.get("/ui/registry").text
    assert stranger in page
    token = csrf(operator, "/ui/registry")
    adopted = operator.post(f"/ui/registry/unknown/{stranger}/adopt", data={
        "security_profile": "1", "site_id": azul.site_id, "csrf_token": token})
    assert adopted.status_code == 200
    password = re.search(r'id="new-password">([0-9a-f]+)<', adopted.text)
    assert password is not None and len(password.group(1)) == 32
    assert registry.get_registration(stranger).site_id == azul.site_id
    again = operator.post(f"/ui/registry/unknown/{stranger}/adopt", data={
        "security_profile": "1", "csrf_token": token})
    assert again.status_code == 409
    assert operator.post(f"/ui/registry/unknown/{stranger}-2/adopt", data={
        "security_profile": "9", "csrf_token": token}).status_code == 400
    assert viewer.post(f"/ui/registry/unknown/{stranger}/adopt", data={
        "security_profile": "1", "csrf_token": csrf(viewer, "/ui/registry")}
                       ).status_code == 403


def test_the_station_page_charts_the_last_24_hours_of_power_and_energy(
        container: Container, charger: Callable[..., Any]) -> None:
    station = charger(start=datetime.now(UTC) - timedelta(hours=3))
    samples = [{"measurand": "Power.Active.Import", "unit": "W", "value": str(w)}
               for w in (3700, 7400)]
    feed(container, [station.boot(), station.start(1, 1, 1000, "TAG-C")]
         + [station.meter_values(1, [s, {"measurand": "Energy.Active.Import.Register",
                                         "unit": "Wh", "value": str(1000 + 900 * i)}], 1)
            for i, s in enumerate(samples, 1)])
    client = signed_in(container)
    page = client.get(f"/ui/stations/{station.station_id}")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY  # strict
    assert "<svg" not in page.text and "not registered" in page.text
    image = re.search(r'<img class="chart" src="([^"]+)"[^>]*alt="([^"]+)"', page.text)
    assert image is not None and "power (kW)" in image.group(2)
    chart = client.get(image.group(1))
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert chart.headers["content-security-policy"] == CHART_POLICY
    values = re.findall(r'<desc class="value">\d\d:\d\d: ([0-9.,]+)</desc>', chart.text)
    assert values == ["3.7", "7.4", "0.9", "1.8"]  # power (kW), then energy per charge (kWh)
    assert "Power (kW)" in chart.text and "Energy per charge (kWh)" in chart.text
    pt = client.get(image.group(1), headers={"Accept-Language": "pt-BR"},
                    cookies={"csms_lang": "pt_BR"}).text
    assert "Potência (kW)" in pt and "7,4</desc>" in pt


def test_the_station_chart_is_refused_as_its_page_is(
        container: Container, charger: Callable[..., Any]) -> None:
    azul, mine, theirs = on_two_sites(container, charger)
    feed(container, [mine.boot(), theirs.boot()])
    container.access_control().authenticator.refresh(force=True)
    viewer = signed_in(container, "viewer", site_scope=[azul.site_id])
    for path in (f"/ui/stations/{theirs.station_id}", f"/ui/stations/{theirs.station_id}/chart.svg",
                 "/ui/stations/nowhere/chart.svg"):
        refused = viewer.get(path)
        assert refused.status_code == 404, path
        assert refused.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert viewer.get(f"/ui/stations/{mine.station_id}/chart.svg").status_code == 200
    anonymous = TestClient(container.app()).get(f"/ui/stations/{mine.station_id}/chart.svg",
                                                follow_redirects=False)
    assert anonymous.status_code == 303


def test_the_station_page_lists_the_stations_security_events_escaped(
        container: Container, charger: Callable[..., Any]) -> None:
    from save_server.domain.registry import SecurityEvent

    station = charger()
    feed(container, [station.boot()])
    now = datetime.now(UTC)
    container.access_control().registry.add_security_event(SecurityEvent(
        str(uuid.uuid4()), station.station_id, "FirmwareUpdated", now, "<b>v2</b>", now))
    page = signed_in(container, "viewer").get(f"/ui/stations/{station.station_id}").text
    assert "FirmwareUpdated" in page and "&lt;b&gt;v2&lt;/b&gt;" in page
