"""Use case: run a remote command on a connected station and report its outcome.

A command arrives from the broker (routed here because this instance holds the station's
websocket), is translated to the station's OCPP version, sent as a call, and answered with
`{outcome, payload, error_code, error_description}`. The command and its outcome are also
published as an `ocpp-commands.<command>` event (in the background: the requester is waiting).
"""

from __future__ import annotations

import asyncio
import time

import structlog
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError

from ocpp_events.domain.command_events import CommandEvent, CommandReply, CommandRequest
from ocpp_events.domain.ports import Clock, PublishFailed
from ocpp_events.domain.remote_commands import (
    StationConnectionClosed,
    UnsupportedCommand,
    outcome_of,
    translate,
)
from ocpp_events.service.publishing import ConfirmedPublisher
from ocpp_events.service.registry import ConnectionRegistry

log = structlog.get_logger("ocpp_events.commands")

class CommandExecutor:
    def __init__(self, registry: ConnectionRegistry, publisher: ConfirmedPublisher,
                 clock: Clock, instance_id: str) -> None:
        self._registry = registry
        self._publisher = publisher
        self._clock = clock
        self._instance_id = instance_id
        self._background: set[asyncio.Task[None]] = set()

    def holds(self, station_id: str) -> bool:
        return self._registry.get(station_id) is not None

    async def execute(self, request: CommandRequest) -> CommandReply | None:
        """The reply, or None when this instance does not hold the station (nothing sent)."""
        connection = self._registry.get(request.charging_station_id)
        if connection is None:
            return None
        version = connection.ocpp_version
        sent_at = self._clock.now()
        started = time.perf_counter()
        call: Call | None = None
        try:
            ocpp_call = translate(request.command, request.parameters, version,
                                  request.command_id)
            call, answer = await connection.charge_point.send_call(
                ocpp_call.action, ocpp_call.payload, request.timeout)
        except UnsupportedCommand as error:
            reply = CommandReply(request.command_id, "unsupported",
                                 error_description=str(error), ocpp_version=version)
        except OCPPError as error:  # the request does not fit the station's schema
            reply = CommandReply(request.command_id, "unsupported", error_code=error.code,
                                 error_description=f"{error.description}: {error.details}",
                                 ocpp_version=version)
        except StationConnectionClosed as error:  # nothing was sent: no command event
            log.info("command not sent: the station's connection closed",
                     command=request.command, command_id=request.command_id,
                     charging_station_id=request.charging_station_id)
            return CommandReply(request.command_id, "not_connected", ocpp_version=version,
                                error_description=f"the station's connection closed ({error})")
        except TimeoutError:
            reply = CommandReply(request.command_id, "timeout", ocpp_version=version,
                                 error_description=f"no answer within {request.timeout} s",
                                 action=call.action if call else None)
        else:
            if isinstance(answer, CallError):
                reply = CommandReply(request.command_id, "call_error", None, answer.error_code,
                                     answer.error_description, version, call.action,
                                     {"error_details": answer.error_details})
            else:
                reply = CommandReply(request.command_id, outcome_of(answer.payload),
                                     answer.payload, ocpp_version=version, action=call.action)
        latency = time.perf_counter() - started
        log.info("command done", command=request.command, command_id=request.command_id,
                 charging_station_id=request.charging_station_id, outcome=reply.outcome,
                 latency_ms=round(latency * 1000, 1))
        self._publish_in_background(CommandEvent.of(
            request=request, reply=reply, connection_id=connection.connection_id,
            call=call, sent_at=sent_at, answered_at=self._clock.now(), latency=latency,
            instance_id=self._instance_id))
        return reply

    def _publish_in_background(self, event: CommandEvent) -> None:
        task = asyncio.create_task(self._publish(event))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish(self, event: CommandEvent) -> None:
        try:
            await self._publisher.publish(event)
        except PublishFailed as failure:
            log.warning("command event not published", type=event.type,
                        event_id=event.event_id, cause=str(failure))

    async def drain(self) -> None:
        """Wait for the command events still being published."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
