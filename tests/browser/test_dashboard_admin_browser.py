"""The dashboard's admin-side pages in a real browser: id tags (a CSV with a bad line, then
imported; an unknown card enrolled), an API key shown once, a viewer kept out of accounts,
and every new page at 360 px and through axe-core."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Api, Loop, screenshot, sign_in
from tests.browser.conftest import _require_chromium as require_chromium
from tests.e2e.command_charger import CommandCharger
from tests.e2e.platform import Platform, base_env, embedded_platform

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The platform as in production: the gateway refuses unknown cards (listed for
    enrolment) instead of `make run`'s accepting them."""
    require_chromium()
    tmp = tmp_path_factory.mktemp("dashboard-admin")
    env = {**base_env(tmp), "GATEWAY_UNKNOWN_ID_TAGS": "reject"}
    with embedded_platform(tmp, env, "csms_embedded_admin") as running:
        yield running


def new_id(prefix: str = "UI") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def signed_in_page(browser: Any, platform: Platform, email: str, locale: str = "en-US",
                   **options: Any) -> tuple[Any, Any]:
    context = browser.new_context(locale=locale, **options)
    page = context.new_page()
    sign_in(page, platform.save_server_url, email)
    return context, page


def test_a_csv_with_a_bad_line_imports_nothing_and_the_fixed_file_imports(
        browser: Any, platform: Platform, api: Api) -> None:
    context, page = signed_in_page(browser, platform, api.account("operator"), "pt-BR")
    good, bad = new_id("CSV").upper(), new_id("CSV").upper()
    csv = f"id_tag,holder,max_concurrent_charges\n{good},<script>x</script>,1\n{bad},Bia,dois\n"
    page.goto(f"{platform.save_server_url}/ui/id-tags")
    page.set_input_files("#f-file", files=[{"name": "tags.csv", "mimeType": "text/csv",
                                            "buffer": csv.encode()}])
    page.get_by_role("button", name="Importar").click()
    errors = page.locator("#import-errors")
    errors.wait_for()
    assert "linha 3 (max_concurrent_charges): não é um número inteiro: 'dois'" in (
        errors.inner_text())
    assert "nada foi importado" in errors.inner_text()
    page.goto(f"{platform.save_server_url}/ui/id-tags?q={good}")
    assert good not in page.locator("table.id-tags").inner_text()
    page.set_input_files("#f-file", files=[{"name": "tags.csv", "mimeType": "text/csv",
                                            "buffer": csv.replace("dois", "2").encode()}])
    page.get_by_role("button", name="Importar").click()
    page.locator("#import-result").wait_for()
    assert "2 criados" in page.locator("#import-result").inner_text()
    page.goto(f"{platform.save_server_url}/ui/id-tags?q={good}")
    assert "<script>x</script>" in page.locator("table.id-tags").inner_text()  # as text
    screenshot(page, "id-tags-pt-BR")
    context.close()


def test_an_unknown_card_is_enrolled_with_one_click(
        browser: Any, platform: Platform, api: Api, chargers: Loop) -> None:
    station_id, card = new_id(), new_id("CARD").upper()[:20]

    async def present_card() -> dict[str, Any]:
        charger = CommandCharger(platform.station_url(station_id))
        await charger.__aenter__()
        try:
            await charger.boot()
            return await charger.call("Authorize", {"idTag": card})
        finally:
            await charger.close()

    assert chargers.run(present_card())["idTagInfo"]["status"] == "Invalid"
    context, page = signed_in_page(browser, platform, api.account("operator"))
    row = page.locator(f"tr[data-token='{card}']")
    for _ in range(40):  # the card reaches save-server's list moments later
        page.goto(f"{platform.save_server_url}/ui/id-tags/unknown")
        if row.count():
            break
        page.wait_for_timeout(250)
    assert station_id in row.inner_text()
    screenshot(page, "id-tags-unknown")
    row.get_by_role("button", name="Enroll").click()
    page.wait_for_selector("text=Card enrolled")
    assert page.locator("#tag-status").inner_text() == "active"
    page.get_by_label("Holder").fill("Apto 101")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("#tag-holder:has-text('Apto 101')")
    context.close()


def test_an_api_key_is_shown_once(browser: Any, platform: Platform, api: Api) -> None:
    context, page = signed_in_page(browser, platform, api.account("admin"))
    page.goto(f"{platform.save_server_url}/ui/api-keys")
    name = new_id("meter")
    page.get_by_label("Name (what uses it)").fill(name)
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Create").click()
    secret = page.locator("#new-secret").inner_text()
    assert len(secret) > 20
    response = page.request.get(f"{platform.save_server_url}/auth/me",
                                headers={"Authorization": f"Bearer {secret}"})
    assert response.status == 200
    page.evaluate("document.getElementById('new-secret').textContent = 'csk_…'")  # no key
    screenshot(page, "api-keys")                                               # in docs/
    page.goto(f"{platform.save_server_url}/ui/api-keys")
    assert name in page.locator("table.api-keys").inner_text()
    assert secret not in page.content()  # never again
    context.close()


def test_a_viewer_cannot_reach_the_accounts(
        browser: Any, platform: Platform, api: Api) -> None:
    context, page = signed_in_page(browser, platform, api.account("viewer"))
    assert page.locator("a[href='/ui/accounts']").count() == 0
    assert page.locator("a[href='/ui/api-keys']").count() == 1  # their own keys
    response = page.goto(f"{platform.save_server_url}/ui/accounts")
    assert response is not None and response.status == 403
    assert "@save.example" not in page.locator("main").inner_text()
    context.close()


def test_the_admin_pages_at_360_px_pass_axe_core(
        browser: Any, platform: Platform, api: Api) -> None:
    from axe_playwright_python.sync_playwright import Axe

    tag = new_id("AXE").upper()
    group = new_id("G")[:12]
    api.post("/id-tag-groups", {"group_id": group, "label": "Bloco A"})
    api.post("/id-tags", {"id_tag": tag, "holder": "Apto 7", "group_id": group})
    context, page = signed_in_page(browser, platform, api.account("admin"), "pt-BR",
                                   viewport={"width": 360, "height": 780}, is_mobile=True,
                                   has_touch=True)
    axe, problems, wide = Axe(), {}, {}
    for path in ("/ui/id-tags", f"/ui/id-tags/t/{tag}", "/ui/id-tags/groups",
                 "/ui/id-tags/unknown", "/ui/accounts", "/ui/api-keys"):
        page.goto(f"{platform.save_server_url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 360:
            wide[path] = width
        if path == "/ui/accounts":
            page.set_viewport_size({"width": 1280, "height": 900})
            screenshot(page, "accounts-pt-BR")
            page.set_viewport_size({"width": 360, "height": 780})
        results = axe.run(page)
        serious = [v["id"] for v in results.response["violations"]
                   if v["impact"] in ("serious", "critical")]
        if serious:
            problems[path] = serious
    assert wide == {}, "these pages scroll sideways at 360 px"
    assert problems == {}
    context.close()
