"""Browser tests of the staff dashboard: Playwright driving Debian's Chromium (never a
downloaded browser) against the embedded platform started as `make run` starts it."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.platform import Platform, api_headers, embedded_platform

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery staple"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
T = TypeVar("T")


def _require_chromium() -> None:
    if os.access(CHROMIUM, os.X_OK):
        return
    message = f"Debian's Chromium is not at {CHROMIUM} (python tests/browser_ready.py)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a missing browser is a failure)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    _require_chromium()
    with embedded_platform(tmp_path_factory.mktemp("dashboard")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(platform: Platform) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Api:
    """The platform's REST API as its first admin."""

    def __init__(self, platform: Platform) -> None:
        self.url = platform.save_server_url

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.url}{path}", json=body, headers=api_headers(), timeout=10)
        assert response.status_code in (200, 201), response.text
        return response.json()  # type: ignore[no-any-return]

    def account(self, role: str, **scope: Any) -> str:
        email = f"{role}-{uuid.uuid4().hex[:6]}@save.example"
        self.post("/accounts", {"email": email, "display_name": f"Staff {role}", "role": role,
                                "password": PASSWORD, **scope})
        return email


@pytest.fixture(scope="module")
def api(platform: Platform) -> Api:
    return Api(platform)


class Loop:
    """An asyncio loop in a thread, for the simulated chargers next to Playwright's sync API."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def chargers() -> Iterator[Loop]:
    loop = Loop()
    yield loop
    loop.close()


def sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/ui/overview")
    assert "/ui/sign-in?next=" in page.url  # redirected: no session yet
    page.get_by_label("E-mail").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/ui/sign-in'] button[type=submit]").click()
    page.wait_for_url("**/ui/overview")


def screenshot(page: Any, name: str) -> None:
    """docs/screenshots/<name>.png, when DASHBOARD_SCREENSHOTS=1 (a run of the tests is then
    the way to refresh them; otherwise a test run leaves the tree as it was)."""
    if os.environ.get("DASHBOARD_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def wait_until_live(page: Any, timeout_ms: float = 30_000) -> None:
    """Until the page's live stream is open: its script then shows the status's `data-on` text
    (the text itself, not a part of it: "connecting…" contains "on" too)."""
    status = page.locator("#live-status")
    expect(status).to_have_text(status.get_attribute("data-on"), timeout=timeout_ms)


def open_station_page(page: Any, base_url: str, station_id: str, timeout: float = 30) -> None:
    """The station's page, once it exists: the worker writes a station's document when it
    applies its first events, moments after the charger's boot (a 404 page until then)."""
    deadline = time.monotonic() + timeout
    while (answer := page.goto(f"{base_url}/ui/stations/{station_id}")).status == 404:
        assert time.monotonic() < deadline, f"{station_id}: no station page after {timeout} s"
        page.wait_for_timeout(250)
    assert answer.ok, answer.status
