"""The event-loop lag probe, and the optional uvloop event loop (GATEWAY_EVENT_LOOP)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import pytest
from pydantic import ValidationError
from websockets.asyncio.client import connect

from ocpp_events.config import Settings
from ocpp_events.entrypoints import loop_factory
from ocpp_events.infrastructure.loop_monitor import LoopLagProbe


async def test_lag_probe_sees_a_callback_that_blocks_the_loop():
    lags: list[float] = []
    probe = LoopLagProbe(0.01, lags.append)
    await probe.start()
    await asyncio.sleep(0.05)
    time.sleep(0.2)  # a stalled loop: nothing else runs meanwhile
    await asyncio.sleep(0.05)
    await probe.stop()
    assert max(lags) >= 0.15
    assert sorted(lags)[len(lags) // 2] < 0.05  # the other wake-ups were on time


async def test_gateway_metrics_expose_the_loop_lag(make_gateway):
    gateway = await make_gateway()
    await asyncio.sleep(0.2)
    metrics = gateway.services.metrics.render().decode()
    count = next(line for line in metrics.splitlines()
                 if line.startswith("ocpp_gateway_event_loop_lag_seconds_count"))
    assert float(count.split()[-1]) >= 1


def test_event_loop_setting():
    assert Settings().gateway_event_loop == "auto"
    assert loop_factory("asyncio") is None
    uvloop = pytest.importorskip("uvloop")
    assert loop_factory("uvloop") is uvloop.new_event_loop
    assert loop_factory("auto") is uvloop.new_event_loop


def test_auto_event_loop_falls_back_to_asyncio_without_uvloop(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert loop_factory("auto") is None
    with pytest.raises(SystemExit, match="uvloop"):
        loop_factory("uvloop")
    with pytest.raises(ValidationError, match="gateway_event_loop"):
        Settings(gateway_event_loop="trio")


@pytest.mark.integration
@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
async def test_gateway_process_answers_on_the_chosen_event_loop(
        rabbit_queue, gateway_processes, station_id, tmp_path, event_loop):
    pytest.importorskip("uvloop")
    amqp_url, exchange, queue = rabbit_queue
    log_path = tmp_path / "gateway.log"
    gateway = await gateway_processes(amqp_url, exchange, log_path, LOG_FORMAT="json",
                                      LOG_LEVEL="INFO", GATEWAY_EVENT_LOOP=event_loop).start()
    async with connect(gateway.url + station_id, subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[2,"1","Heartbeat",{}]')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))[0] == 3
    assert await gateway.terminate() == 0
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    [ready] = [line for line in lines if line["event"] == "gateway ready"]
    assert ready["event_loop"].startswith("uvloop" if event_loop == "uvloop" else "asyncio")
    message = await queue.get(no_ack=True, fail=False)
    assert message is not None and json.loads(message.body)["type"] == "ocpp-events.connect"
