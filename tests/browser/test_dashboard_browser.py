"""The dashboard in a real browser: sign in, live overview, commands from the station page,
charges and their CSV, a site-scoped viewer, both languages, a phone-sized screen, axe-core."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Api, Loop, screenshot, sign_in, wait_until_live
from tests.e2e.command_charger import CommandCharger
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e
LIVE_TIMEOUT_MS = 5_000  # the feed promises 2 s; the margin is for a loaded machine


def new_id(prefix: str = "UI") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def connect(platform: Platform, station_id: str) -> CommandCharger:
    charger = CommandCharger(platform.station_url(station_id))
    await charger.__aenter__()
    await charger.boot()
    return charger


@pytest.fixture
def page(browser: Any, platform: Platform, api: Api) -> Any:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    opened = context.new_page()
    sign_in(opened, platform.save_server_url, api.account("operator"))
    yield opened
    context.close()


def test_a_charger_that_connects_turns_green_on_the_open_overview(
        page: Any, platform: Platform, chargers: Loop) -> None:
    station_id = new_id()
    charger = chargers.run(connect(platform, station_id))
    chargers.run(charger.close())  # known, and now offline
    page.goto(f"{platform.save_server_url}/ui/overview?q={station_id}")
    row = page.locator(f"tr[data-station-id='{station_id}'] td.state .badge")
    for _ in range(40):  # the worker applies the disconnection moments later
        if row.count() and row.inner_text() == "offline":
            break
        page.wait_for_timeout(250)
        page.reload()
    assert row.inner_text() == "offline"
    row = page.locator(f"tr[data-station-id='{station_id}']")
    wait_until_live(page)
    connected = int(page.locator("#count-connected").inner_text())
    charger = chargers.run(connect(platform, station_id))
    try:
        row.locator("td.state .badge.state-available").wait_for(timeout=LIVE_TIMEOUT_MS)
        assert row.locator("td.state .badge").inner_text() == "available"
        assert "1: available" in row.locator("td.connectors").inner_text()
        expect(page.locator("#count-connected")).to_have_text(  # the counts follow too
            str(connected + 1), timeout=LIVE_TIMEOUT_MS)
        page.goto(f"{platform.save_server_url}/ui/overview")
        screenshot(page, "overview")
    finally:
        chargers.run(charger.close())


def test_start_and_stop_a_charge_from_the_station_page(
        page: Any, platform: Platform, chargers: Loop) -> None:
    station_id = new_id()
    charger = chargers.run(connect(platform, station_id))
    try:
        page.goto(f"{platform.save_server_url}/ui/stations/{station_id}")
        start = page.locator("form[action$='/commands/remote-start']")
        start.get_by_label("Id tag").fill("TAG-UI-1")
        start.get_by_role("button", name="Send").click()
        page.wait_for_selector(".answer")
        assert "accepted" in page.locator(".answer").inner_text()
        assert charger.received[-1][0] == "RemoteStartTransaction"
        assert charger.received[-1][1]["idTag"] == "TAG-UI-1"
        chargers.run(charger.call("StartTransaction", {
            "connectorId": 1, "idTag": "TAG-UI-1", "meterStart": 1000,
            "timestamp": "2026-12-05T12:00:00Z"}))
        page.wait_for_timeout(300)
        for _ in range(20):  # the worker applies the start moments later
            page.goto(f"{platform.save_server_url}/ui/stations/{station_id}")
            if page.locator("#rstop-charge option").count():
                break
            page.wait_for_timeout(250)
        page.wait_for_function(  # the 24 h chart: an SVG image, allowed by its own policy
            "document.querySelector('figure img.chart').naturalWidth > 0")
        screenshot(page, "station")
        stop = page.locator("form[action$='/commands/remote-stop']")
        stop.get_by_role("button", name="Send").click()
        page.wait_for_selector(f"h1:has-text('Send Stop charge to {station_id}?')")
        assert charger.received[-1][0] == "RemoteStartTransaction"  # nothing sent yet
        page.get_by_role("button", name="Yes, send it").click()
        page.wait_for_selector(".answer")
        assert charger.received[-1][0] == "RemoteStopTransaction"
        assert "accepted" in page.locator(".answer").inner_text()
    finally:
        chargers.run(charger.close())


def test_filter_the_charges_and_download_exactly_them_as_csv(
        page: Any, platform: Platform, chargers: Loop) -> None:
    station_id = new_id()
    charger = chargers.run(connect(platform, station_id))
    try:
        for transaction, tag, meter in ((1, "TAG-KEEP", 2500), (2, "TAG-OTHER", 4000)):
            answer = chargers.run(charger.call("StartTransaction", {
                "connectorId": 1, "idTag": tag, "meterStart": 1000,
                "timestamp": f"2026-12-0{transaction}T10:00:00Z"}))
            chargers.run(charger.call("StopTransaction", {
                "transactionId": answer["transactionId"], "meterStop": meter,
                "timestamp": f"2026-12-0{transaction}T11:00:00Z", "reason": "Local"}))
    finally:
        chargers.run(charger.close())
    page.goto(f"{platform.save_server_url}/ui/charges")
    page.get_by_label("Station").fill(station_id)
    page.get_by_label("Id tag").fill("TAG-KEEP")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*id_tag=TAG-KEEP.*"))
    for _ in range(20):  # the worker applies the charges moments later
        if page.locator("#total-count").inner_text() == "1":
            break
        page.wait_for_timeout(250)
        page.reload()
    assert page.locator("#total-count").inner_text() == "1"
    assert page.locator("#total-energy").inner_text() == "1.5 kWh"
    assert "TAG-OTHER" not in page.locator("table.charges").inner_text()
    screenshot(page, "charges")
    with page.expect_download() as download:
        page.locator("#csv-link").click()
    rows = Path(download.value.path()).read_text(encoding="utf-8").strip().splitlines()
    assert rows[0].startswith("id,charging_station_id")
    assert len(rows) == 2 and "TAG-KEEP" in rows[1] and station_id in rows[1]


def test_a_viewer_of_one_site_sees_only_its_stations(
        browser: Any, platform: Platform, api: Api, chargers: Loop) -> None:
    azul = api.post("/sites", {"name": f"Azul {new_id()}"})["site_id"]
    verde = api.post("/sites", {"name": f"Verde {new_id()}"})["site_id"]
    mine, theirs = new_id("AZUL"), new_id("VERDE")
    for station_id, site in ((mine, azul), (theirs, verde)):
        api.post("/charging-stations", {"charging_station_id": station_id,
                                        "security_profile": 0, "site_id": site})
        chargers.run(chargers.run(connect(platform, station_id)).close())
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    sign_in(page, platform.save_server_url, api.account("viewer", site_scope=[azul]))
    for _ in range(20):
        if page.locator(f"tr[data-station-id='{mine}']").count():
            break
        page.wait_for_timeout(250)
        page.reload()
    table = page.locator("#stations").inner_text()
    assert mine in table and theirs not in table
    assert page.locator("a[href='/ui/charges']").count() == 1  # viewers read charges
    assert page.locator("a[href='/ui/reports']").count() == 0  # but not reports
    response = page.goto(f"{platform.save_server_url}/ui/stations/{theirs}")
    assert response is not None and response.status == 404
    assert theirs not in page.locator("main").inner_text().replace(f"'{theirs}'", "")
    context.close()


def test_portuguese_and_english_and_a_360_px_screen(
        browser: Any, platform: Platform, api: Api) -> None:
    email = api.account("operator")
    context = browser.new_context(locale="pt-BR", viewport={"width": 360, "height": 780},
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, platform.save_server_url, email)
    assert page.locator("h1").inner_text() == "Visão geral"
    assert page.get_by_role("button", name="Sair").is_visible()
    assert page.locator("html").get_attribute("lang") == "pt-BR"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways at 360 px ({width} px)"
    screenshot(page, "overview-360px-pt-BR")
    page.get_by_role("button", name="English").click()
    page.wait_for_selector("h1:has-text('Overview')")
    assert page.get_by_role("button", name="Sign out").is_visible()
    context.close()


def test_the_main_pages_pass_the_axe_core_accessibility_check(
        browser: Any, platform: Platform, api: Api, chargers: Loop) -> None:
    from axe_playwright_python.sync_playwright import Axe

    station_id = new_id()
    chargers.run(chargers.run(connect(platform, station_id)).close())
    context = browser.new_context(locale="pt-BR")
    page = context.new_page()
    page.goto(f"{platform.save_server_url}/ui/sign-in")
    pages = ["/ui/sign-in"]
    sign_in(page, platform.save_server_url, api.account("admin"))
    pages += ["/ui/overview", f"/ui/stations/{station_id}", "/ui/charges", "/ui/reports",
              "/ui/registry", "/ui/events"]
    axe = Axe()
    problems = {}
    for path in pages:
        page.goto(f"{platform.save_server_url}{path}")
        if path == "/ui/registry":
            screenshot(page, "registry-pt-BR")
        results = axe.run(page)
        serious = [v["id"] for v in results.response["violations"]
                   if v["impact"] in ("serious", "critical")]
        if serious:
            problems[path] = serious
    assert problems == {}
    context.close()


def test_an_admin_browses_the_events_opens_one_and_replays_them(
        browser: Any, platform: Platform, api: Api, chargers: Loop) -> None:
    station_id = new_id()
    chargers.run(chargers.run(connect(platform, station_id)).close())
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    sign_in(page, platform.save_server_url, api.account("admin"))
    rows = page.locator("table.events tbody tr")
    for _ in range(40):  # the event-store stores them moments later
        page.goto(f"{platform.save_server_url}/ui/events?station={station_id}")
        if rows.count() >= 3:
            break
        page.wait_for_timeout(250)
    assert "ocpp-events.boot-notification" in page.locator("table.events").inner_text()
    screenshot(page, "events")
    page.locator("table.events a", has_text="open").first.click()
    assert station_id in page.locator("pre.payload").inner_text()
    page.go_back()
    page.get_by_label("Send them to").select_option("save-server")
    page.get_by_role("button", name="Replay them").click()
    page.wait_for_selector("h1:has-text('Replay the events to save-server?')")
    page.get_by_role("button", name="Yes, replay").click()
    page.wait_for_url(re.compile(r".*/ui/events/replays/.+"))
    page.wait_for_selector("#replay-state:has-text('completed')", timeout=15_000)
    assert int(page.locator("#replay-sent").inner_text()) >= 3
    context.close()
    operator = browser.new_context(locale="en-US")
    page = operator.new_page()
    sign_in(page, platform.save_server_url, api.account("operator"))
    for _ in range(40):  # the event-store learns the new sign-in from its event
        page.goto(f"{platform.save_server_url}/ui/events?station={station_id}")
        if page.locator("table.events").count():
            break
        page.wait_for_timeout(250)
    assert page.locator("table.events").count() == 1  # operators read the events
    assert page.locator("form[action='/ui/events/replays']").count() == 0  # but do not replay
    operator.close()
