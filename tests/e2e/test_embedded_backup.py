"""`python -m csms_embedded backup DIR` while chargers keep sending, then `restore` into an
empty DATA_DIR: the restored platform starts with the same keys, every station and charge it
knows has its events in the restored event store, and after a replay to `save-server` its
stations and charges are exactly what the restored event store implies."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.charger import get_json, poll
from tests.e2e.fleet import Fleet
from tests.e2e.platform import TIME_FACTOR, api_headers, base_env, embedded_platform
from tests.scaleout import state

pytestmark = pytest.mark.e2e


def command(action: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "csms_embedded", action, str(folder)],
                          env=env, capture_output=True, text=True, timeout=120 * TIME_FACTOR)


async def test_an_online_backup_restores_a_consistent_platform(tmp_path: Path) -> None:
    fleet = Fleet(uuid.uuid4().hex[:6], 20)
    env = base_env(tmp_path / "live")
    (tmp_path / "live").mkdir()
    copy = tmp_path / "backup"
    with embedded_platform(tmp_path / "live", env, "live") as platform:
        chargers = fleet.start(platform.gateway_url)
        try:
            await asyncio.sleep(3.0 * TIME_FACTOR)
            made = await asyncio.to_thread(command, "backup", copy, env)  # under load
            await asyncio.sleep(1.0)
        finally:
            fleet.done = True
            await asyncio.gather(*chargers, return_exceptions=True)
    assert made.returncode == 0, made.stderr
    assert "save-server.sqlite3" in made.stdout and "admin-api-key" in made.stdout
    assert (copy / "admin-api-key").stat().st_mode & 0o777 == 0o600
    assert command("backup", copy, env).returncode == 1  # never over an earlier backup

    restored_env = {**base_env(tmp_path / "restored"), "DATA_DIR": str(tmp_path / "restored")}
    done = await asyncio.to_thread(command, "restore", copy, restored_env)
    assert done.returncode == 0, done.stderr
    assert command("restore", copy, restored_env).returncode == 1  # not into a used folder
    with embedded_platform(tmp_path, restored_env, "restored") as restored:
        stations = await asyncio.to_thread(state.stations, restored.save_server_url)
        events = await asyncio.to_thread(state.events, restored.event_store_url)
        mine = {s for s in stations if s.startswith(fleet.prefix)}
        assert mine, "the backup holds none of the chargers' stations"
        in_store = {e["charging_station_id"] for e in events
                    if (e["charging_station_id"] or "").startswith(fleet.prefix)}
        assert mine <= in_store  # save-server was copied first: the store has its events
        async with httpx.AsyncClient(timeout=10, headers=api_headers()) as client:
            replay = await client.post(f"{restored.event_store_url}/replays",
                                       json={"target": "save-server"})
            assert replay.status_code == 202, replay.text
        await poll(lambda: get_json(f"{restored.event_store_url}/replays/"
                                    f"{replay.json()['id']}"),
                   lambda job: job["state"] == "completed")
        after = await poll(lambda: asyncio.to_thread(state.stations, restored.save_server_url),
                           lambda found: {s for s in found
                                          if s.startswith(fleet.prefix)} == in_store)
        assert {s for s in after if s.startswith(fleet.prefix)} == in_store
