"""Settings added for performance: listen backlog, heap freezing, bounded lifecycle publishes."""

from __future__ import annotations

import asyncio
import gc
import shutil
import subprocess

import pytest
from ocpp.v16 import call_result
from pydantic import ValidationError
from websockets.asyncio.client import connect

from ocpp_events.config import Settings
from ocpp_events.domain.events import Event
from ocpp_events.infrastructure.heap import HeapFreezer

from ..conftest import RecordingNotifier


def listen_backlog_of(port: int) -> int:
    """The accept-queue limit the kernel reports for a listening socket (`ss` Send-Q)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout
    [line] = [row for row in out.splitlines() if row.strip()]
    return int(line.split()[2])


def test_performance_defaults_and_bad_values_name_the_setting() -> None:
    settings = Settings()
    assert settings.gateway_listen_backlog == 4096
    assert settings.gateway_gc_freeze_interval == 2.0
    assert settings.gateway_lifecycle_publish_concurrency == 256
    for name, bad in (("gateway_listen_backlog", 0), ("gateway_gc_freeze_interval", -1),
                      ("gateway_lifecycle_publish_concurrency", 0)):
        with pytest.raises(ValidationError) as error:
            Settings(**{name: bad})
        assert name in str(error.value)


def test_settings_are_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("GATEWAY_LISTEN_BACKLOG", "512")
    monkeypatch.setenv("GATEWAY_GC_FREEZE_INTERVAL", "0")
    monkeypatch.setenv("GATEWAY_LIFECYCLE_PUBLISH_CONCURRENCY", "8")
    settings = Settings()
    assert (settings.gateway_listen_backlog, settings.gateway_gc_freeze_interval,
            settings.gateway_lifecycle_publish_concurrency) == (512, 0.0, 8)


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs `ss` (iproute2)")
@pytest.mark.parametrize("backlog", [4096, 37])
async def test_websocket_server_listens_with_the_configured_backlog(make_gateway, backlog):
    gateway = await make_gateway(gateway_listen_backlog=backlog)
    reported = listen_backlog_of(gateway.ocpp.port)
    # The kernel caps the backlog at net.core.somaxconn.
    with open("/proc/sys/net/core/somaxconn") as somaxconn:
        assert reported == min(backlog, int(somaxconn.read()))
    assert reported != 100 or backlog == 100  # not asyncio's default


def test_heap_is_frozen_only_when_more_stations_are_connected() -> None:
    stations = [0]
    freezer = HeapFreezer(2.0, lambda: stations[0])
    try:
        assert freezer.freeze_if_grown()  # first time: the start-up heap
        frozen = gc.get_freeze_count()
        connections = [[n] for n in range(1000)]  # lists are tracked by the collector
        assert not freezer.freeze_if_grown()  # no new station: nothing frozen
        assert gc.get_freeze_count() == frozen
        stations[0] = 10
        assert freezer.freeze_if_grown()
        assert gc.get_freeze_count() >= frozen + len(connections)
        stations[0] = 5
        assert not freezer.freeze_if_grown()  # fewer stations: not again
        assert freezer.freezes == 2
    finally:
        gc.unfreeze()


async def test_gateway_freezes_the_heap_at_start_unless_disabled(make_gateway):
    try:
        on = await make_gateway(gateway_gc_freeze_interval=0.05)
        assert on.heap.freezes == 1
        assert gc.get_freeze_count() > 0
        off = await make_gateway(gateway_gc_freeze_interval=0)
        assert off.heap.freezes == 0
    finally:
        gc.unfreeze()


class SlowNotifier(RecordingNotifier):
    """Takes a while per publish and records how many were in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0

    async def publish(self, event: Event) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.05)
            await super().publish(event)
        finally:
            self.in_flight -= 1


async def test_disconnects_at_shutdown_are_published_concurrently_within_the_bound(
        make_gateway, station_id):
    notifier = SlowNotifier()
    gateway = await make_gateway(notifier, gateway_lifecycle_publish_concurrency=4,
                                 gateway_gc_freeze_interval=0)
    url = f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}-"
    stations = [await connect(url + str(n), subprotocols=["ocpp1.6"]) for n in range(20)]
    for _ in range(200):
        if len(notifier.of_type("ocpp-events.connect")) == 20:
            break
        await asyncio.sleep(0.02)
    notifier.most_in_flight = 0
    started = asyncio.get_running_loop().time()
    await gateway.ocpp.stop()
    elapsed = asyncio.get_running_loop().time() - started
    assert len(notifier.of_type("ocpp-events.disconnect")) == 20
    assert notifier.most_in_flight == 4  # concurrent, but never more than the bound
    assert elapsed < 20 * 0.05  # not one after the other (that would take 1 s)
    for station in stations:
        await station.close()


@pytest.mark.parametrize("validate_responses", [True, False])
async def test_answers_are_schema_validated_only_when_configured(
        charge_point_16, notifier, monkeypatch, validate_responses):
    assert Settings().gateway_validate_responses is False  # production: requests only
    charge_point_16.services.validate_responses = validate_responses
    # A handler bug: Heartbeat answered without its required currentTime.
    monkeypatch.setitem(charge_point_16.route_map["Heartbeat"], "_on_action",
                        lambda _self, **_: call_result.Heartbeat(current_time=None))
    await charge_point_16.route_message('[2,"hb","Heartbeat",{}]')
    reply = charge_point_16._connection.last()
    if validate_responses:
        assert reply[0] == 4 and reply[1] == "hb"  # never sent an invalid answer
        assert notifier.events == []
    else:
        assert reply == [3, "hb", {}]
