"""What each connection keeps (docs/performance-log.md, "Embedded mode: memory"): the route
map is the class's, the remote-command queue and lock and the flood guard's record of
rejections exist only once used, and routing still reaches each instance's own handlers."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from ocpp_events.domain.flood_control import Admission, FloodGuard, FloodPolicy
from ocpp_events.infrastructure.ocpp.session import Session
from ocpp_events.infrastructure.ocpp.v16 import ChargePoint16
from ocpp_events.infrastructure.ocpp.v201 import ChargePoint21, ChargePoint201

from ..conftest import FakeConnection


def session(version: str = "1.6") -> Session:
    return Session(f"CP-{uuid.uuid4().hex[:8]}", str(uuid.uuid4()), version)


def test_the_route_map_is_built_once_per_class(services):
    first = ChargePoint16(session(), services, FakeConnection())
    second = ChargePoint16(session(), services, FakeConnection())
    assert first.route_map is second.route_map is ChargePoint16.route_map
    assert "route_map" not in vars(first)
    handler = ChargePoint16.route_map["Heartbeat"]["_on_action"]
    assert handler is ChargePoint16.__dict__["on_heartbeat"]  # a function, not a bound method
    assert ChargePoint201.route_map is not ChargePoint21.route_map
    assert ChargePoint16.route_map.keys().isdisjoint({"TransactionEvent"})


async def test_a_subclass_handler_replaces_its_parents_in_its_own_map_only(services):
    class Answering(ChargePoint16):
        @on(Action.heartbeat)
        def on_heartbeat(self, **_):
            self.seen = self.session.station_id
            return call_result.Heartbeat(current_time="2026-12-05T12:00:00Z")

    mine = Answering(session(), services, FakeConnection())
    await mine.route_message('[2,"h1","Heartbeat",{}]')
    assert mine._connection.last() == [3, "h1", {"currentTime": "2026-12-05T12:00:00Z"}]
    assert mine.seen == mine.session.station_id
    assert Answering.route_map["Heartbeat"]["_on_action"] is Answering.__dict__["on_heartbeat"]
    assert ChargePoint16.route_map["Heartbeat"]["_on_action"] is \
        ChargePoint16.__dict__["on_heartbeat"]


async def test_each_instance_answers_with_its_own_state(services, notifier):
    stations = [ChargePoint16(session(), services, FakeConnection()) for _ in range(2)]
    for station in stations:
        await station.route_message(
            '[2,"b1","BootNotification",{"chargePointVendor":"v","chargePointModel":"m"}]')
        assert station._connection.last()[:2] == [3, "b1"]
    assert [e.charging_station_id for e in notifier.events] == \
        [s.session.station_id for s in stations]


def test_no_command_queue_or_lock_until_a_command_is_used(services):
    station = ChargePoint16(session(), services, FakeConnection())
    assert station._commands is None
    lock, queue = station._call_lock, station._response_queue
    assert station._commands == (lock, queue)
    assert station._call_lock is lock and station._response_queue is queue


async def _answer_last_call(station: ChargePoint16, after: int) -> None:
    while len(station._connection.sent) <= after:
        await asyncio.sleep(0.001)
    call_id = json.loads(station._connection.sent[-1])[1]
    await station.route_message(json.dumps([3, call_id, {"status": "Accepted"}]))


async def test_the_command_state_is_dropped_once_no_command_is_in_progress(services):
    station = ChargePoint16(session(), services, FakeConnection())
    first = asyncio.create_task(station.send_call("ClearCache", {}, 2.0))
    second = asyncio.create_task(station.send_call("ClearCache", {}, 2.0))
    await _answer_last_call(station, 0)
    await first
    assert station._commands is not None  # the second still waits for the lock / its answer
    await _answer_last_call(station, 1)
    _, answer = await second
    assert answer.payload == {"status": "Accepted"}
    assert station._commands is None


async def test_a_late_answer_is_kept_until_the_next_command_ignores_it(services):
    station = ChargePoint16(session(), services, FakeConnection())
    with pytest.raises(TimeoutError):
        await station.send_call("ClearCache", {}, 0.01)
    assert station._commands is None
    late_id = json.loads(station._connection.sent[0])[1]
    await station.route_message(json.dumps([3, late_id, {"status": "Rejected"}]))
    assert station._response_queue.qsize() == 1
    command = asyncio.create_task(station.send_call("ClearCache", {}, 2.0))
    await _answer_last_call(station, 1)
    call, answer = await command
    assert answer.unique_id == call.unique_id and answer.payload == {"status": "Accepted"}
    assert station._commands is None


async def test_an_answer_to_a_command_is_queued_without_any_command_state_before(services):
    station = ChargePoint16(session(), services, FakeConnection())
    await station.route_message('[3,"c1",{}]')
    assert station._response_queue.qsize() == 1


def test_the_flood_guard_keeps_no_record_until_a_call_is_rejected():
    guard = FloodGuard(FloodPolicy(calls_per_second=1, burst=1, close_after=2, window=10), 0.0)
    assert guard._rejections is None
    assert guard.admit(0.0) is Admission.ADMIT
    assert guard._rejections is None
    assert guard.admit(0.0) is Admission.REJECT
    assert guard._rejections is not None and guard._rejections.maxlen == 2
    assert guard.admit(0.0) is Admission.CLOSE


async def test_an_open_connection_keeps_its_path_but_not_the_handshake_headers(
        make_gateway, notifier, station_id):
    from websockets.asyncio.client import connect

    gateway = await make_gateway(notifier)
    address = f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}"
    async with connect(address, subprotocols=["ocpp1.6"],
                       additional_headers={"User-Agent": "memory-test"}) as ws:
        await ws.send('[2,"h1","Heartbeat",{}]')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))[:2] == [3, "h1"]
        held = gateway.ocpp.registry.get(station_id).websocket
        assert held.request.path == f"/ocpp/{station_id}"
        assert list(held.request.headers.raw_items()) == []
        assert list(held.response.headers.raw_items()) == []
        assert held.subprotocol == "ocpp1.6"
        assert held.drain_waiters == []
    connects = notifier.of_type("ocpp-events.connect")
    assert [e.charging_station_id for e in connects] == [station_id]
