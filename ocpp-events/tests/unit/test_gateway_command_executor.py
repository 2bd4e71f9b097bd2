"""The gateway runs a command on the station's live session and reports the outcome; the
command and its outcome become an `ocpp-commands.<command>` event."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import jsonschema
import pytest

from ocpp_events.domain.command_events import CommandRequest, InvalidCommandMessage
from ocpp_events.service.commands import CommandExecutor
from ocpp_events.service.registry import ConnectionRegistry, StationConnection

from ..conftest import EVENTS_DIR, RecordingNotifier

SCHEMA = json.loads((EVENTS_DIR / "ocpp-commands.schema.json").read_text())


def _setup(charge_point: Any, notifier: RecordingNotifier) -> CommandExecutor:
    registry = ConnectionRegistry()
    session = charge_point.session
    registry.register(StationConnection(session.station_id, session.connection_id,
                                        session.ocpp_version, charge_point, None))
    services = charge_point.services
    return CommandExecutor(registry, services.publisher, services.clock, "gw-test")


def _request(station_id: str, command: str, parameters: dict[str, Any],
             timeout: float = 2.0) -> CommandRequest:
    return CommandRequest(str(uuid.uuid4()), station_id, command, parameters, timeout, "alice")


async def _answer_with(charge_point: Any, frame_of: Any) -> None:
    """Play the charger: wait for the command frame, then route `frame_of(call)` back."""
    connection = charge_point._connection
    while not connection.sent:
        await asyncio.sleep(0.001)
    call = json.loads(connection.sent[-1])
    frame = frame_of(call)
    if frame is not None:
        await charge_point.route_message(json.dumps(frame))


async def _run(executor: CommandExecutor, charge_point: Any, request: CommandRequest,
               frame_of: Any) -> Any:
    reply, _ = await asyncio.gather(executor.execute(request),
                                    _answer_with(charge_point, frame_of))
    await executor.drain()
    return reply


async def test_accepted_answer_is_reported_and_recorded_as_an_event(
        charge_point_16: Any, notifier: RecordingNotifier) -> None:
    executor = _setup(charge_point_16, notifier)
    station = charge_point_16.session.station_id
    request = _request(station, "reset", {"type": "hard"})
    reply = await _run(executor, charge_point_16, request,
                       lambda call: [3, call[1], {"status": "Accepted"}])
    sent = json.loads(charge_point_16._connection.sent[0])
    assert sent[0] == 2 and sent[2:] == ["Reset", {"type": "Hard"}]
    assert (reply.outcome, reply.payload, reply.action) == ("accepted", {"status": "Accepted"},
                                                            "Reset")
    [event] = notifier.events
    document = event.to_dict()
    jsonschema.validate(document, SCHEMA)
    assert document["type"] == "ocpp-commands.reset"
    assert document["message_id"] == sent[1] and document["payload"] == {"type": "Hard"}
    assert document["response"] == {"status": "Accepted"}
    assert document["command"]["command_id"] == request.command_id
    assert document["command"]["requested_by"] == "alice"
    assert document["command"]["outcome"] == "accepted"


async def test_rejected_answer_is_a_rejection(charge_point_201: Any,
                                              notifier: RecordingNotifier) -> None:
    executor = _setup(charge_point_201, notifier)
    request = _request(charge_point_201.session.station_id, "unlock-connector",
                       {"connector_id": 1})
    reply = await _run(executor, charge_point_201, request,
                       lambda call: [3, call[1], {"status": "UnlockFailed"}])
    assert reply.outcome == "rejected" and reply.payload == {"status": "UnlockFailed"}
    assert json.loads(charge_point_201._connection.sent[0])[3] == {"evseId": 1,
                                                                   "connectorId": 1}


async def test_call_error_carries_code_and_description(charge_point_16: Any,
                                                      notifier: RecordingNotifier) -> None:
    executor = _setup(charge_point_16, notifier)
    request = _request(charge_point_16.session.station_id, "clear-cache", {})
    reply = await _run(executor, charge_point_16, request,
                       lambda call: [4, call[1], "InternalError", "flash broken", {}])
    assert (reply.outcome, reply.error_code, reply.error_description) == (
        "call_error", "InternalError", "flash broken")
    document = notifier.events[0].to_dict()
    jsonschema.validate(document, SCHEMA)
    assert document["response"] is None and document["command"]["error_code"] == "InternalError"


async def test_no_answer_is_a_timeout_and_a_late_answer_is_ignored(
        charge_point_16: Any, notifier: RecordingNotifier) -> None:
    executor = _setup(charge_point_16, notifier)
    station = charge_point_16.session.station_id
    reply = await _run(executor, charge_point_16, _request(station, "clear-cache", {}, 0.05),
                       lambda call: None)
    assert reply.outcome == "timeout"
    late_id = json.loads(charge_point_16._connection.sent[0])[1]
    await charge_point_16.route_message(json.dumps([3, late_id, {"status": "Accepted"}]))
    reply = await _run(executor, charge_point_16, _request(station, "clear-cache", {}),
                       lambda call: [3, call[1], {"status": "Rejected"}])
    assert reply.outcome == "rejected"  # the answer of this call, not the late one


async def test_command_of_another_version_is_unsupported_and_nothing_is_sent(
        charge_point_201: Any, notifier: RecordingNotifier) -> None:
    executor = _setup(charge_point_201, notifier)
    request = _request(charge_point_201.session.station_id, "get-configuration", {})
    reply = await executor.execute(request)
    await executor.drain()
    assert reply.outcome == "unsupported" and "only in 1.6" in reply.error_description
    assert charge_point_201._connection.sent == []
    jsonschema.validate(notifier.events[0].to_dict(), SCHEMA)


async def test_parameters_breaking_the_ocpp_schema_are_unsupported(
        charge_point_16: Any, notifier: RecordingNotifier) -> None:
    executor = _setup(charge_point_16, notifier)
    request = _request(charge_point_16.session.station_id, "change-configuration",
                       {"key": "K" * 51, "value": "1"})  # 1.6 keys are at most 50 characters
    reply = await executor.execute(request)
    assert reply.outcome == "unsupported" and reply.error_code == "TypeConstraintViolation"
    assert charge_point_16._connection.sent == []


async def test_station_not_held_here_gives_no_reply(charge_point_16: Any,
                                                     notifier: RecordingNotifier) -> None:
    executor = _setup(charge_point_16, notifier)
    assert await executor.execute(_request("CP-elsewhere", "clear-cache", {})) is None
    assert notifier.events == []


async def test_a_connection_closed_before_the_send_is_not_connected_and_no_event(
        charge_point_16: Any, notifier: RecordingNotifier) -> None:
    """The station went away between its lookup and the send: the requester learns it at
    once (not after its timeout), and nothing was sent, so no command event."""
    from websockets.exceptions import ConnectionClosedOK

    async def closed(message: str) -> None:
        raise ConnectionClosedOK(None, None)

    charge_point_16._connection.send = closed
    executor = _setup(charge_point_16, notifier)
    reply = await executor.execute(_request(charge_point_16.session.station_id, "reset",
                                            {"type": "hard"}, timeout=5))
    await executor.drain()
    assert reply is not None and reply.outcome == "not_connected"
    assert "connection closed" in (reply.error_description or "")
    assert notifier.events == []


async def test_event_publish_failure_does_not_change_the_reply(
        charge_point_16: Any, notifier: RecordingNotifier) -> None:
    notifier.failing = True
    executor = _setup(charge_point_16, notifier)
    request = _request(charge_point_16.session.station_id, "clear-cache", {})
    reply = await _run(executor, charge_point_16, request,
                       lambda call: [3, call[1], {"status": "Accepted"}])
    assert reply.outcome == "accepted"


def test_command_request_from_json_refuses_bad_messages() -> None:
    good = {"command_id": "c1", "charging_station_id": "CP", "command": "reset",
            "parameters": {"type": "soft"}, "timeout": 2}
    assert CommandRequest.from_json(json.dumps(good).encode()).timeout == 2.0
    for bad in (b"not json", b"[]", json.dumps({**good, "timeout": 0}).encode(),
                json.dumps({"command": "reset"}).encode()):
        with pytest.raises(InvalidCommandMessage):
            CommandRequest.from_json(bad)
