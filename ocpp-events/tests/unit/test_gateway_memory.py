"""What each connection keeps (docs/performance-log.md, "Embedded mode: memory"): the route
map is the class's, the remote-command queue and lock and the flood guard's record of
rejections exist only once used, and routing still reaches each instance's own handlers."""

from __future__ import annotations

import uuid

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
