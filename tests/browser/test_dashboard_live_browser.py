"""The dashboard's live and operational pages in a real browser: a site's power gauge that
follows a charge without reload, the station page's live connectors and state history, both
languages at 360 px, axe-core."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    Api,
    Loop,
    open_station_page,
    screenshot,
    sign_in,
    wait_until_live,
)
from tests.e2e.command_charger import CommandCharger
from tests.e2e.platform import Platform, api_headers

pytestmark = pytest.mark.e2e
LIVE_TIMEOUT_MS = 15_000  # an allocation follows the charge's events through the load queue


def new_id(prefix: str = "LV") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def connect(platform: Platform, station_id: str) -> CommandCharger:
    charger = CommandCharger(platform.station_url(station_id))
    await charger.__aenter__()
    await charger.boot()
    await charger.call("StatusNotification", {"connectorId": 1, "status": "Available",
                                              "errorCode": "NoError"})
    return charger


def managed_site(platform: Platform, api: Api) -> tuple[str, list[str]]:
    """A three-phase 63 A site with two registered chargers in its electrical model."""
    site_id = api.post("/sites", {"name": f"Garagem {new_id()}"})["site_id"]
    stations = [new_id(), new_id()]
    for station_id in stations:
        api.post("/charging-stations", {"charging_station_id": station_id,
                                        "security_profile": 0, "site_id": site_id})
    answer = httpx.put(f"{platform.save_server_url}/sites/{site_id}/electrical", json={
        "supply": "three-phase", "voltage_v": 220, "limit_a": 63,
        "connectors": [{"charging_station_id": s, "connector_id": 1,
                        "phases": ["L1", "L2", "L3"]} for s in stations]},
        headers=api_headers(), timeout=10)
    assert answer.status_code == 200, answer.text
    return site_id, stations


@pytest.fixture
def page(browser: Any, platform: Platform, api: Api) -> Any:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    sign_in(opened, platform.save_server_url, api.account("operator"))
    yield opened
    context.close()


def test_a_sites_power_gauge_follows_a_charge_without_reload(
        page: Any, platform: Platform, api: Api, chargers: Loop) -> None:
    site_id, stations = managed_site(platform, api)
    connected = [chargers.run(connect(platform, s)) for s in stations]
    try:
        page.goto(f"{platform.save_server_url}/ui/sites/{site_id}")
        wait_until_live(page)
        assert page.locator("table.gauge-table tbody tr").count() == 3
        row = page.locator("table.site-connectors tr", has_text=stations[0])
        assert row.locator(".badge").inner_text() != "charging"
        page.evaluate("document.body.setAttribute('data-loaded-once', '1')")
        chargers.run(connected[0].call("StatusNotification", {
            "connectorId": 1, "status": "Charging", "errorCode": "NoError"}))
        chargers.run(connected[0].call("StartTransaction", {
            "connectorId": 1, "idTag": "TAG-LM", "meterStart": 0,
            "timestamp": "2026-12-05T12:00:00Z"}))
        expect(row.locator(".badge")).to_have_text("charging", timeout=LIVE_TIMEOUT_MS)
        allocated = page.locator("tr[data-phase='L1'] td.allocated")
        expect(allocated).not_to_have_text("0.0 A")
        assert page.evaluate("document.body.getAttribute('data-loaded-once')") == "1"
        page.goto(f"{platform.save_server_url}/ui/sites/{site_id}")  # the history drawn
        history = page.locator("#history-h + figure img.chart")
        expect(history).to_have_count(1)
        page.wait_for_function(  # the SVG, allowed by its own policy, decoded and drawn
            "document.querySelector('#history-h + figure img.chart').naturalWidth > 0")
        screenshot(page, "site-power")
        page.goto(f"{platform.save_server_url}/ui/sites")
        assert page.locator(f"a[href='/ui/sites/{site_id}']").count() == 1
    finally:
        for charger in connected:
            chargers.run(charger.close())


def test_the_station_page_shows_connector_changes_live_with_their_history(
        page: Any, platform: Platform, chargers: Loop) -> None:
    station_id = new_id()
    charger = chargers.run(connect(platform, station_id))
    try:
        open_station_page(page, platform.save_server_url, station_id)
        wait_until_live(page)
        page.evaluate("document.body.setAttribute('data-loaded-once', '1')")
        chargers.run(charger.call("StatusNotification", {
            "connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure"}))
        chargers.run(charger.call("MeterValues", {"connectorId": 1, "meterValue": [{
            "timestamp": "2026-12-05T12:00:00Z", "sampledValue": [
                {"measurand": "Power.Active.Import", "unit": "W", "value": "7321"}]}]}))
        badge = page.locator("#part-connectors [data-connector='1']")
        expect(badge).to_have_text("1: faulted", timeout=5_000)
        expect(page.locator("#part-state .badge")).to_have_text("faulted")
        expect(page.locator("#part-state-history tbody tr").first).to_contain_text(
            "GroundFailure")
        expect(page.locator("#part-readings")).to_contain_text("7,321.0", timeout=5_000)
        assert page.evaluate("document.body.getAttribute('data-loaded-once')") == "1"
        screenshot(page, "station-live")
    finally:
        chargers.run(charger.close())


def test_the_new_pages_in_portuguese_at_360_px_pass_axe(
        browser: Any, platform: Platform, api: Api, chargers: Loop) -> None:
    from axe_playwright_python.sync_playwright import Axe

    site_id, stations = managed_site(platform, api)
    chargers.run(chargers.run(connect(platform, stations[0])).close())
    context = browser.new_context(locale="pt-BR", viewport={"width": 360, "height": 780},
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, platform.save_server_url, api.account("admin"))
    open_station_page(page, platform.save_server_url, stations[0])  # the worker applied it
    axe = Axe()
    problems = {}
    for path, heading in (("/ui/sites", "Locais"), (f"/ui/sites/{site_id}", "Local"),
                          (f"/ui/stations/{stations[0]}", "Estação")):
        page.goto(f"{platform.save_server_url}{path}")
        assert page.locator("h1").inner_text().startswith(heading)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} scrolls sideways at 360 px ({width} px)"
        if path.startswith("/ui/sites/"):
            assert page.get_by_text("Potência por fase").count() >= 1
            screenshot(page, "site-power-360px-pt-BR")
        serious = [v["id"] for v in axe.run(page).response["violations"]
                   if v["impact"] in ("serious", "critical")]
        if serious:
            problems[path] = serious
    assert problems == {}
    context.close()
