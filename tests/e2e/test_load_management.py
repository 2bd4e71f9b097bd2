"""Site load management end to end: 12 simulated stations (1.6 and 2.0.1, one rejecting
profiles, one answering them with a CallError, one going offline mid-charge) on a 63 A
three-phase site with a varying building load, 30 simulated minutes compressed into ~30 s,
on real RabbitMQ and PostgreSQL (services mode); and the same scenario, 20 simulated minutes,
in embedded mode (`make run`: one process, SQLite, the in-process broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import platform_of
from tests.e2e.load_invariants import (
    check_allocations,
    check_draws,
    check_waits,
    fetch_events,
)
from tests.e2e.load_sim import Config, simulate
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e
SPEED = 60.0  # simulated seconds per wall second
SLOT_S = 15 * 60 / SPEED  # the 15-minute rotation slot, compressed


MINUTES = {"services": 30.0, "embedded": 20.0}  # embedded: within 60 s of `make test`
COMPRESSED = {"LOAD_ROTATION_SLOT_SECONDS": str(SLOT_S),
              "LOAD_PROFILE_MIN_INTERVAL_SECONDS": str(30 / SPEED),
              "LOAD_SWEEP_SECONDS": str(30 / SPEED),
              "LOAD_PROFILE_LEASE_SECONDS": str(600 / SPEED),
              "SAVE_SERVER_COMMAND_TIMEOUT": "5"}


@pytest.fixture(params=["services", "embedded"])
def compressed_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    """The conftest's platform, its load management's time compressed `SPEED` times."""
    with platform_of(request.param, tmp_path, COMPRESSED) as platform:
        yield platform


def test_twelve_stations_share_63_amperes_for_half_an_hour(compressed_platform: Platform
                                                           ) -> None:
    platform = compressed_platform
    config = Config(stations=12, minutes=MINUTES[platform.mode], speed=SPEED, limit_a=63.0,
                    seed=7)
    run = asyncio.run(simulate(platform.gateway_url, platform.save_server_url,
                               platform.headers, config))
    ended_at = datetime.now(UTC)
    model = run.site.model

    # the physical truth: what the cars drew, tick by tick
    over = check_draws(run.samples, 63.0, model["margin"], run.building_changes, window_s=5.0)
    assert over == [], (over[:5], [s.stations for s in run.samples if any(
        s.draws[p] + s.building[p] > 59.85 for p in ("L1", "L2", "L3"))][:2])
    assert max(s.draws["L1"] for s in run.samples) > 20  # they did charge

    power = httpx.get(f"{platform.save_server_url}/sites/{run.site.site_id}/power",
                      headers=platform.headers, timeout=10).json()
    rejecting, offline = run.stations[config.rejecting], run.stations[config.offline]
    erring = run.stations[config.erring]
    assert rejecting.station_id in power["stations_never_accepting_profiles"]
    assert erring.station_id in power["stations_never_accepting_profiles"]
    assert erring.profiles and {r for _, _, r in erring.profiles} == {"CallError"}
    assert all(result == "Rejected" for _, _, result in rejecting.profiles)
    assert any(p[0] == "TxProfile" for s in run.stations for p in s.profiles)

    # the events of the run, from the event-store
    def allocations() -> list[dict]:
        events = fetch_events(platform.event_store_url, platform.headers,
                              ["load-management.allocation"])
        return [e for e in events if e["payload"]["site_id"] == run.site.site_id]

    events, previous = allocations(), -1
    for _ in range(40):  # the event-store gets them within moments: until the count holds
        if len(events) == previous:
            break
        previous = len(events)
        asyncio.run(asyncio.sleep(0.5))
        events = allocations()
    assert len(events) > 10
    assert check_allocations(model, events) == []
    assert check_waits(events, SLOT_S, grace_s=3.0, until=ended_at) == []
    assert any(e["payload"]["queue"] for e in events)  # the rotation was exercised
    counted = {(c["charging_station_id"], c["reserved_a"]) for e in events
               for c in e["payload"]["connectors"] if c["reserved_a"]}
    assert {(rejecting.station_id, 16.0), (erring.station_id, 16.0),
            (offline.station_id, 16.0)} <= counted
