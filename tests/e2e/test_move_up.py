"""Moving a site up from `make run` (embedded) to services mode keeps its history: stop the
embedded platform, take its backup (`python -m csms_embedded backup DIR`), start the services on
RabbitMQ and PostgreSQL with the event-store on the backup's `event-store.sqlite3`, replay
everything to save-server's queue: the same stations (operator data included), charges and
events are served by the services' APIs (docs/operations.md, "Moving up to services mode")."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.charger import get_json, poll
from tests.e2e.conftest import _require_real_servers
from tests.e2e.fleet import Fleet, wrong_charges
from tests.e2e.platform import (
    TIME_FACTOR,
    Platform,
    api_headers,
    base_env,
    embedded_platform,
    services_platform,
    stop_with_sigterm,
)
from tests.scaleout import state

pytestmark = pytest.mark.e2e


def site(platform: Platform, fleet: Fleet) -> tuple[dict, dict, list]:
    """The fleet's stations, charges and events, as the APIs serve them."""
    stations, charges = state.save_server_state(platform.save_server_url)
    events = [e for e in state.events(platform.event_store_url)
              if (e["charging_station_id"] or "").startswith(fleet.prefix)]
    return ({k: v for k, v in stations.items() if k.startswith(fleet.prefix)},
            {k: v for k, v in charges.items() if k[0].startswith(fleet.prefix)}, events)


async def settled(platform: Platform, fleet: Fleet) -> tuple[dict, dict, list]:
    """The site once save-server has applied every event (two reads a second apart agree)."""
    previous = None
    for _ in range(60):
        current = await asyncio.to_thread(site, platform, fleet)
        if current == previous and not wrong_charges(platform, fleet):
            return current
        previous = current
        await asyncio.sleep(1.0)
    raise AssertionError("the embedded platform never settled")


async def test_a_site_moves_up_to_services_mode_with_its_history(tmp_path: Path) -> None:
    _require_real_servers()
    fleet = Fleet(uuid.uuid4().hex[:6], 4)
    env = base_env(tmp_path / "embedded")
    (tmp_path / "embedded").mkdir()
    with embedded_platform(tmp_path / "embedded", env, "embedded") as embedded:
        chargers = fleet.start(embedded.gateway_url)
        await asyncio.sleep(3.0 * TIME_FACTOR)
        fleet.done = True
        await asyncio.gather(*chargers, return_exceptions=True)
        first = fleet.station_ids()[0]
        async with httpx.AsyncClient(timeout=10, headers=api_headers()) as client:
            named = await client.post(f"{embedded.save_server_url}/charging-station/{first}"
                                      "/data", json={"name": "Garagem Norte"})
            assert named.status_code == 200, named.text
        stations, charges, events = await settled(embedded, fleet)
        assert stop_with_sigterm(embedded) == [0]
    assert len(stations) == 4 and len(charges) >= 4 and stations[first]["name"] == "Garagem Norte"

    backup = tmp_path / "backup"
    made = subprocess.run([sys.executable, "-m", "csms_embedded", "backup", str(backup)],
                          env=env, capture_output=True, text=True, timeout=120 * TIME_FACTOR)
    assert made.returncode == 0, made.stderr
    store = {"EVENT_STORE_SQLITE_PATH": str(backup / "event-store.sqlite3")}
    (tmp_path / "services").mkdir()
    with services_platform(tmp_path / "services", store) as services:
        assert await get_json(f"{services.save_server_url}/charging-stations") == []
        async with httpx.AsyncClient(timeout=10, headers=api_headers()) as client:
            started = await client.post(f"{services.event_store_url}/replays",
                                        json={"target": services.env["SAVE_SERVER_QUEUE"]})
            assert started.status_code == 202, started.text
        job = await poll(lambda: get_json(f"{services.event_store_url}/replays/"
                                          f"{started.json()['id']}"),
                         lambda found: found["state"] in ("completed", "failed"),
                         timeout=60 * TIME_FACTOR)
        assert job["state"] == "completed", job
        moved = await poll(lambda: asyncio.to_thread(site, services, fleet),
                           lambda found: found[:2] == (stations, charges),
                           timeout=30 * TIME_FACTOR)
        assert moved == (stations, charges, events)
