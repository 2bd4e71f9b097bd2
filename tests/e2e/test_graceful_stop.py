"""`make run` and `make run-services` stopped with SIGTERM (what Ctrl-C, systemd and docker
send) while tens of chargers keep sending, then started again on the same data, several times:
every call that got a CallResult is an event in the event store and has its effect in
save-server afterwards, and every connection the gateway accepted has its disconnect event.

Embedded: the launcher stops the gateway (closing the chargers with 1001, finishing the calls
in flight) before the consumers, and the consumers drain their queues before they stop (with the
broker in memory only, as it was, stopping them all at once lost answered calls). Services
(honcho and the Procfile, which SIGTERM every role at once): it holds because the gateway
answers only confirmed publishes, RabbitMQ keeps them, and the workers acknowledge only what
they committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.e2e.charger import get_json, poll
from tests.e2e.conftest import _require_real_servers
from tests.e2e.fleet import Fleet, missing_events, wrong_charges
from tests.e2e.platform import (
    TIME_FACTOR,
    Platform,
    base_env,
    embedded_platform,
    procfile_platform,
    services_resources,
    stop_with_sigterm,
)

pytestmark = pytest.mark.e2e

STATIONS = 30
STOPS = 3
TRAFFIC_SECONDS = 4.0  # of calls before each SIGTERM


Starter = Callable[[str], AbstractContextManager[Platform]]


@contextlib.contextmanager
def starts_on_the_same_data(mode: str, tmp: Path) -> Iterator[Starter]:
    """Starts of one platform that all use the same data: DATA_DIR (embedded), or database,
    exchange and queues (services, through honcho as `make run-services`)."""
    if mode == "embedded":
        env = base_env(tmp)
        yield lambda name: embedded_platform(tmp, env, name)
        return
    _require_real_servers()
    with services_resources(tmp) as (env, _):
        yield lambda name: procfile_platform(tmp, env, name)


def stopped_by_itself(platform: Platform, exit_codes: list[int]) -> bool:
    """Embedded: exit code 0 and an empty broker journal (every event was stored before the
    consumers stopped: nothing is left for the next start to redeliver). honcho: 143 (its own
    code for SIGTERM), no role SIGKILLed."""
    if platform.mode == "embedded":
        journal = Path(platform.env["DATA_DIR"]) / "broker.sqlite3"
        with contextlib.closing(sqlite3.connect(journal)) as db:
            left = db.execute("SELECT count(*) FROM messages").fetchone()[0]
        return exit_codes == [0] and left == 0
    return exit_codes == [143] and "SIGKILL" not in platform.logs()


async def run_and_stop(platform: Platform, fleet: Fleet) -> bool:
    await asyncio.sleep(TRAFFIC_SECONDS)
    fleet.stopping = True
    exit_codes = await asyncio.to_thread(stop_with_sigterm, platform)
    fleet.stopping = False
    return stopped_by_itself(platform, exit_codes)


@pytest.mark.parametrize("mode", ["embedded", "services"])
async def test_sigterm_under_traffic_loses_no_answered_call(mode: str, tmp_path: Path) -> None:
    fleet = Fleet(uuid.uuid4().hex[:6], STATIONS)
    chargers: list[asyncio.Task] = []
    clean_stops: list[bool] = []
    with starts_on_the_same_data(mode, tmp_path) as start:
        try:
            for run in range(STOPS):
                with start(f"run-{run}") as platform:
                    chargers = chargers or fleet.start(platform.gateway_url)
                    clean_stops.append(await run_and_stop(platform, fleet))
        finally:
            fleet.done = True
            await asyncio.gather(*chargers, return_exceptions=True)

        assert clean_stops == [True] * STOPS, f"stopped by itself at each SIGTERM: {clean_stops}"
        assert len(fleet.stopped) > STATIONS, "the chargers hardly got through a charge"
        with start("check") as platform:
            deadline = time.monotonic() + 30 * TIME_FACTOR
            while True:  # nothing is sent any more: whatever is still missing was lost
                lost, unclosed = await asyncio.to_thread(missing_events, platform, fleet)
                wrong = await asyncio.to_thread(wrong_charges, platform, fleet)
                if not (lost or unclosed or wrong) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
    assert not (lost or unclosed or wrong), (
        f"of {len(fleet.answered)} answered calls ({fleet.answered_while_stopping} answered "
        f"after a SIGTERM), {len(lost)} are not in the event store: {lost[:3]}; "
        f"{len(unclosed)} connections have no disconnect event: {unclosed[:3]}; "
        f"{len(wrong)} answered starts/stops have no effect in save-server: {wrong[:3]}")


async def mute_charger(platform: Platform, station_id: str) -> asyncio.StreamWriter:
    """Opens a websocket, then never reads again: it never answers the closing handshake."""
    host, port = platform.gateway_url.removeprefix("ws://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /ocpp/{station_id} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n".encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    return writer


async def test_honcho_leaves_the_gateway_time_to_publish_a_mute_chargers_disconnect(
        tmp_path: Path) -> None:
    """honcho SIGKILLs every role still running 5 s after the first one exited; a charger that
    never answers the closing handshake holds the gateway's stop for GATEWAY_CLOSE_TIMEOUT, so
    the Procfile keeps that short enough for the gateway to publish the disconnect first."""
    station_id = f"MUTE-{uuid.uuid4().hex[:6]}"
    with starts_on_the_same_data("services", tmp_path) as start:
        with start("run") as platform:
            writer = await mute_charger(platform, station_id)
            exit_codes = await asyncio.to_thread(stop_with_sigterm, platform)
            writer.close()
        assert stopped_by_itself(platform, exit_codes), platform.logs()
        with start("check") as platform:
            url = f"{platform.event_store_url}/events"
            events = await poll(lambda: get_json(url, charging_station_id=station_id),
                                lambda found: len(found) == 2)
    assert sorted(e["type"] for e in events) == ["ocpp-events.connect", "ocpp-events.disconnect"]
