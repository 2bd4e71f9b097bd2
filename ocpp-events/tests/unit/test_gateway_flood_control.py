"""A station flooding calls gets GenericError (nothing published), then a 1008 close; others
are unaffected."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ocpp_events.config import Settings
from ocpp_events.domain.flood_control import Admission, FloodGuard, FloodPolicy
from ocpp_events.infrastructure.ocpp.session import Session
from ocpp_events.infrastructure.ocpp.v16 import ChargePoint16
from ocpp_events.infrastructure.ocpp.v201 import ChargePoint201

from ..conftest import FakeConnection

HEARTBEAT = '[2,"{id}","Heartbeat",{{}}]'


def policy(rate: float = 1.0, burst: int = 3, close_after: int = 0,
           window: float = 10.0) -> FloodPolicy:
    return FloodPolicy(calls_per_second=rate, burst=burst, close_after=close_after,
                       window=window)


# --- the rule ---------------------------------------------------------------------------------
def test_burst_is_admitted_then_calls_over_it_are_rejected():
    guard = FloodGuard(policy(rate=1, burst=3), now=0.0)
    assert [guard.admit(0.0) for _ in range(4)] == [Admission.ADMIT] * 3 + [Admission.REJECT]


def test_tokens_refill_at_the_sustained_rate():
    guard = FloodGuard(policy(rate=2, burst=1), now=0.0)
    assert guard.admit(0.0) is Admission.ADMIT
    assert guard.admit(0.2) is Admission.REJECT  # 0.4 token
    assert guard.admit(0.5) is Admission.ADMIT  # 1.0 token
    assert guard.admit(100.0) is Admission.ADMIT  # never more than the burst
    assert guard.admit(100.0) is Admission.REJECT


def test_rate_zero_turns_flood_control_off():
    guard = FloodGuard(policy(rate=0, burst=1, close_after=1), now=0.0)
    assert all(guard.admit(0.0) is Admission.ADMIT for _ in range(10_000))


def test_close_after_n_rejections_within_the_window_only():
    guard = FloodGuard(policy(rate=0.001, burst=1, close_after=3, window=10), now=0.0)
    assert guard.admit(0.0) is Admission.ADMIT
    # the last 3 rejections span more than 10 s: 1.0-12.5, then 2.0-13.0
    assert [guard.admit(t) for t in (1.0, 2.0, 12.5, 13.0)] == [Admission.REJECT] * 4
    assert guard.admit(14.0) is Admission.CLOSE  # 12.5, 13.0, 14.0 within 10 s


def test_defaults_and_settings_from_the_environment(monkeypatch):
    settings = Settings()
    assert (settings.gateway_rate_limit_per_second, settings.gateway_rate_limit_burst,
            settings.gateway_flood_close_after, settings.gateway_flood_window) == (
                200, 1000, 100, 10)
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_PER_SECOND", "0")
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_BURST", "7")
    monkeypatch.setenv("GATEWAY_FLOOD_CLOSE_AFTER", "0")
    monkeypatch.setenv("GATEWAY_FLOOD_WINDOW", "3")
    settings = Settings()
    assert (settings.gateway_rate_limit_per_second, settings.gateway_rate_limit_burst,
            settings.gateway_flood_close_after, settings.gateway_flood_window) == (0, 7, 0, 3)
    with pytest.raises(ValidationError, match="gateway_rate_limit_burst"):
        Settings(gateway_rate_limit_burst=0)


# --- the session: raw frames ----------------------------------------------------------------
def limited(charge_point_class, services, version, flood: FloodPolicy):
    services.flood_policy = flood
    session = Session(f"CP-{uuid.uuid4().hex[:8]}", str(uuid.uuid4()), version)
    return charge_point_class(session, services, FakeConnection())


@pytest.mark.parametrize(("charge_point_class", "version"),
                         [(ChargePoint16, "1.6"), (ChargePoint201, "2.0.1")])
async def test_call_over_the_limit_is_generic_error_and_not_published(
        services, notifier, charge_point_class, version):
    charge_point = limited(charge_point_class, services, version, policy(rate=0.001, burst=2))
    for n in range(3):
        await charge_point.route_message(HEARTBEAT.format(id=f"m{n}"))
    replies = [json.loads(frame) for frame in charge_point._connection.sent]
    assert [reply[0] for reply in replies] == [3, 3, 4]
    assert replies[2][1:3] == ["m2", "GenericError"]
    assert "Rate limit exceeded" in replies[2][3]
    assert replies[2][4]["burst"] == 2
    assert len(notifier.of_type("ocpp-events.heart-beat")) == 2
    assert charge_point._connection.closed is None


async def test_garbage_frames_count_against_the_limit(services, notifier):
    charge_point = limited(ChargePoint16, services, "1.6", policy(rate=0.001, burst=1))
    await charge_point.route_message("{")
    await charge_point.route_message("{")
    replies = [json.loads(frame) for frame in charge_point._connection.sent]
    assert [reply[2] for reply in replies] == ["FormationViolation", "GenericError"]


async def test_rejected_calls_are_counted_in_the_metrics(services):
    charge_point = limited(ChargePoint16, services, "1.6", policy(rate=0.001, burst=1))
    for n in range(5):
        await charge_point.route_message(HEARTBEAT.format(id=f"m{n}"))
    metrics = services.metrics.render().decode()
    assert "ocpp_gateway_rate_limited_calls_total 4.0" in metrics
    assert "ocpp_gateway_flood_closes_total 0.0" in metrics


async def test_station_that_keeps_flooding_is_closed_1008_and_then_ignored(services, notifier):
    charge_point = limited(ChargePoint16, services, "1.6",
                           policy(rate=0.001, burst=1, close_after=3, window=60))
    for n in range(6):
        await charge_point.route_message(HEARTBEAT.format(id=f"m{n}"))
    await charge_point.flood_close
    code, reason = charge_point._connection.closed
    assert code == 1008 and "too many calls" in reason
    # 1 answered, 2 GenericError, the 4th call closed the connection, the rest ignored
    assert [json.loads(frame)[0] for frame in charge_point._connection.sent] == [3, 4, 4]
    assert len(notifier.events) == 1
    assert "ocpp_gateway_flood_closes_total 1.0" in services.metrics.render().decode()


async def test_responses_to_our_commands_are_not_limited(services):
    charge_point = limited(ChargePoint16, services, "1.6", policy(rate=0.001, burst=1))
    for n in range(3):
        await charge_point.route_message(f'[3,"c{n}",{{}}]')
    assert charge_point._response_queue.qsize() == 3
    await charge_point.route_message(HEARTBEAT.format(id="m1"))
    assert json.loads(charge_point._connection.sent[-1])[0] == 3


# --- over the wire --------------------------------------------------------------------------
async def test_flood_closes_1008_with_disconnect_event_and_other_station_unaffected(
        make_gateway, notifier, station_id):
    gateway = await make_gateway(notifier, gateway_rate_limit_per_second=5,
                                 gateway_rate_limit_burst=20, gateway_flood_close_after=200,
                                 gateway_flood_window=10)
    base = f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/"
    calm_latencies: list[float] = []
    calm_replies: list[list] = []

    async def calm_station(calm) -> None:
        for n in range(20):
            started = time.perf_counter()
            await calm.send(HEARTBEAT.format(id=f"c{n}"))
            calm_replies.append(json.loads(await asyncio.wait_for(calm.recv(), 5)))
            calm_latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)

    async def flood_station(flood) -> list[list]:
        replies = []
        for n in range(1000):
            await flood.send(HEARTBEAT.format(id=f"f{n}"))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                replies.append(json.loads(await asyncio.wait_for(flood.recv(), 10)))
        assert closed.value.rcvd.code == 1008
        assert "too many calls" in closed.value.rcvd.reason
        return replies

    async with connect(base + station_id + "-flood", subprotocols=["ocpp1.6"]) as flood, \
            connect(base + station_id + "-calm", subprotocols=["ocpp1.6"]) as calm:
        flood_replies, _ = await asyncio.gather(flood_station(flood), calm_station(calm))
    assert [reply[0] for reply in calm_replies] == [3] * 20
    assert max(calm_latencies) < 0.5
    answered = [reply for reply in flood_replies if reply[0] == 3]
    refused = [reply for reply in flood_replies if reply[0] == 4]
    assert 20 <= len(answered) <= 30  # the burst, plus what refilled meanwhile
    assert len(refused) == 199 and {reply[2] for reply in refused} == {"GenericError"}
    flood_events = [e for e in notifier.of_type("ocpp-events.heart-beat")
                    if e.charging_station_id == station_id + "-flood"]
    assert len(flood_events) == len(answered)
    for _ in range(100):
        disconnects = [e for e in notifier.of_type("ocpp-events.disconnect")
                       if e.charging_station_id == station_id + "-flood"]
        if disconnects:
            break
        await asyncio.sleep(0.02)
    assert disconnects[0].payload["close_code"] == 1008
