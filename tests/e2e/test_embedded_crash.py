"""`make run` killed with SIGKILL (a crash, a power cut) at random moments while 50 chargers keep
charging, restarted on the same DATA_DIR each time: every call that got a CallResult is an
event in the event store and has its effect in save-server afterwards (charges started and
stopped across the kills included). Holds because the gateway answers a call only once the
broker's journal has its event on disk, and the journal gives unacknowledged events back to the
consumers after a restart.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.fleet import Fleet, missing_events, wrong_charges
from tests.e2e.platform import TIME_FACTOR, Platform, base_env, embedded_platform

pytestmark = pytest.mark.e2e

STATIONS = 50
KILLS = 5


def kill(platform: Platform) -> None:
    [(_, process, _)] = platform.processes
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


async def test_sigkill_under_traffic_loses_no_answered_call(tmp_path: Path) -> None:
    fleet = Fleet(uuid.uuid4().hex[:6], STATIONS)
    env = base_env(tmp_path)
    chargers: list[asyncio.Task] = []
    try:
        for run in range(KILLS):
            with embedded_platform(tmp_path, env, f"run-{run}") as platform:
                chargers = chargers or fleet.start(platform.gateway_url)
                await asyncio.sleep(random.uniform(2.0, 5.0))
                await asyncio.to_thread(kill, platform)
    finally:
        fleet.done = True
        await asyncio.gather(*chargers, return_exceptions=True)

    assert len(fleet.stopped) > STATIONS, "the chargers hardly got through a charge"
    with embedded_platform(tmp_path, env, "check") as platform:
        deadline = time.monotonic() + 30 * TIME_FACTOR
        while True:  # the journal's events reach the consumers again after the restart
            lost, _ = await asyncio.to_thread(missing_events, platform, fleet)
            wrong = await asyncio.to_thread(wrong_charges, platform, fleet)
            if not (lost or wrong) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    assert not (lost or wrong), (
        f"of {len(fleet.answered)} answered calls, {len(lost)} are not in the event store: "
        f"{lost[:3]}; {len(wrong)} answered starts/stops have no effect in save-server: "
        f"{wrong[:3]}")
