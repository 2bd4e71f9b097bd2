"""`ID_TAG_BUDGET_ACTION=finish` on simulated 1.6 and 2.0.1 stations, in both modes: a charge
running when its tag's monthly budget is used up gets no remote stop and finishes as the
driver ends it (test_id_tag_limits.py has the default, `stop`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.charger import get_json, poll
from tests.e2e.conftest import platform_of
from tests.e2e.platform import (
    TIME_FACTOR,
    Platform,
)
from tests.e2e.test_id_tag_limits import create_tag, station, until_known

pytestmark = pytest.mark.e2e
FINISH = {"ID_TAG_ENFORCEMENT_INTERVAL": "0.3", "ID_TAG_BUDGET_ACTION": "finish",
          "GATEWAY_UNKNOWN_ID_TAGS": "reject"}  # see until_known


@pytest.fixture(scope="module", params=["embedded", "services"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Platform]:
    with platform_of(request.param, tmp_path_factory.mktemp(f"finish-{request.param}"),
                     FINISH) as running:
        yield running


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_budget_used_up_during_a_charge_lets_it_finish(
        platform: Platform, version: str) -> None:
    card = await create_tag(platform, monthly_budget_kwh=1)
    async with station(platform, version) as charging:
        await charging.boot()
        await until_known(charging, card)
        assert await charging.start(card, 0) == "Accepted"
        await charging.meter(1_500)  # 1.5 of 1 kWh
        await poll(lambda: get_json(f"{platform.save_server_url}/id-tags/usage",
                                    month=_this_month()),
                   lambda usage: any(t["id_tag"] == card and t["energy_kwh"] == 1.5
                                     for t in usage["tags"]))
        await asyncio.sleep(2 * TIME_FACTOR)  # several enforcement rounds over the budget
        assert charging.received == []
        await charging.stop(2_000)
        charges = await poll(lambda: get_json(f"{platform.save_server_url}/charges",
                                              charging_station_id=charging.url.rsplit("/")[-1]),
                             lambda found: found and found[0]["status"] == "finished")
        assert charges[0]["energy_wh"] == 2_000


def _this_month() -> str:
    """The e2e stations have no site: their month is REPORT_DEFAULT_TIMEZONE's (default)."""
    return datetime.now(ZoneInfo("America/Sao_Paulo")).strftime("%Y-%m")
