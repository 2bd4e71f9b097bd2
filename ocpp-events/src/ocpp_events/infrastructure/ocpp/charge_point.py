"""The gateway's OCPP session: route each frame, answer only after the event is confirmed."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from datetime import datetime
from typing import Any, ClassVar

import structlog
from ocpp.charge_point import (
    ChargePoint,
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import GenericError, InternalError, OCPPError
from ocpp.messages import Call, CallError, CallResult
from ocpp.routing import create_route_map
from websockets.exceptions import ConnectionClosed

from ocpp_events.domain.authorization import Decision, TokenRequest
from ocpp_events.domain.events import Event, rfc3339
from ocpp_events.domain.flood_control import Admission, FloodGuard
from ocpp_events.domain.id_tags import ChargeRef
from ocpp_events.domain.ports import PublishFailed
from ocpp_events.domain.remote_commands import StationConnectionClosed
from ocpp_events.domain.station_registry import RegisteredStation
from ocpp_events.infrastructure.ocpp.errors import error_code
from ocpp_events.infrastructure.ocpp.framing import (
    FrameError,
    parse_frame,
    unknown_action_error,
    validate,
)
from ocpp_events.infrastructure.ocpp.session import GatewayServices, Session

log = structlog.get_logger("ocpp_events.session")
_quiet = logging.getLogger("ocpp_events.ocpp")  # the ocpp package logs every frame at INFO


_READS_PAYLOAD: dict[Any, bool] = {}
FLOOD_CLOSE_CODE = 1008  # policy violation
PENDING_RETRY_INTERVAL = 60  # seconds a Pending station waits before its next BootNotification


def _reads_payload(handler: Any) -> bool:
    """True when the handler names a parameter (it only ignores `**_` otherwise); cached."""
    function = getattr(handler, "__func__", handler)
    reads = _READS_PAYLOAD.get(function)
    if reads is None:
        reads = _READS_PAYLOAD[function] = any(
            parameter.kind is not inspect.Parameter.VAR_KEYWORD
            for parameter in inspect.signature(function).parameters.values()
            if parameter.name != "self")
    return reads


class GatewayChargePoint(ChargePoint):
    """Base of the 1.6 and 2.0.1 sessions; subclasses hold one `@on` handler per action.

    Flow of a Call: parse -> schema-validate -> handler builds the CallResult payload ->
    the event (payload + response) is published and confirmed -> the CallResult is sent.
    If the broker does not confirm, the station gets CallError InternalError (and retries);
    the connection stays open.
    """

    _ocpp_version: ClassVar[str]
    known_actions: ClassVar[frozenset[str]]
    # Memory per connection (docs/performance-log.md, "Embedded mode: memory"): the `ocpp`
    # base class builds a route map of bound methods and an asyncio Queue and Lock for every
    # instance. Here the map is built once per class (plain functions, bound at dispatch), and
    # the queue and lock of remote commands exist only while a command is sent or answered.
    route_map: ClassVar[dict[str, dict[str, Any]]] = {}
    logger: ClassVar[logging.Logger] = _quiet
    _response_timeout: ClassVar[int] = 30
    _unique_id_generator = staticmethod(uuid.uuid4)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.route_map = create_route_map(cls)

    def __init__(self, session: Session, services: GatewayServices, connection: Any) -> None:
        # ChargePoint.__init__ is not called: what it sets per instance is set here or lazily
        self.id = session.station_id
        self._connection = connection
        self._commands: tuple[asyncio.Lock, asyncio.Queue[Any]] | None = None
        self._commands_in_progress = 0
        self.session = session
        self.services = services
        policy = services.flood_policy
        self._flood = FloodGuard(policy, time.monotonic()) if policy.enabled else None
        self._closing = False
        self.pending = False  # an unknown station admitted under the `pending` policy
        self.flood_close: asyncio.Task[None] | None = None
        # Per call (calls on one connection are answered one at a time): how its id token
        # was answered, for the event, and what to undo when the event is not confirmed.
        self._authorization: dict[str, Any] | None = None
        self._unconfirmed: list[tuple[TokenRequest, ChargeRef]] = []

    @property
    def _call_lock(self) -> asyncio.Lock:
        return self._command_state()[0]

    @property
    def _response_queue(self) -> asyncio.Queue[Any]:
        return self._command_state()[1]

    def _command_state(self) -> tuple[asyncio.Lock, asyncio.Queue[Any]]:
        if self._commands is None:
            self._commands = (asyncio.Lock(), asyncio.Queue())
        return self._commands

    async def route_message(self, raw_msg: str | bytes) -> None:
        if self._closing:  # closed for flooding: frames still buffered are not answered
            return
        received_at = self.services.clock.now()
        try:
            frame = parse_frame(raw_msg, self._ocpp_version)
        except FrameError as error:
            if not await self._admitted(error.message_id):
                return
            self.services.metrics.bad_frames.inc()
            log.warning("bad frame", error=error.error.code, cause=error.error.details)
            await self._send(self._call_error(error.message_id, error.error))
            return
        if frame is None:
            log.info("frame that needs no answer ignored", frame=str(raw_msg)[:200])
        elif isinstance(frame, Call):
            if await self._admitted(frame.unique_id):
                await self._send(await self.answer(frame, received_at))
        else:  # the answer to a call we sent (remote commands)
            self._response_queue.put_nowait(frame)

    async def _admitted(self, message_id: str) -> bool:
        """Flood control: False when the call was answered GenericError or the station closed.

        Calls over the limit cost no validation and no publish, so a flooding station cannot
        take the event loop's or the broker's time from the others.
        """
        if self._flood is None:
            return True
        admission = self._flood.admit(time.monotonic())
        if admission is Admission.ADMIT:
            return True
        metrics, policy = self.services.metrics, self._flood.policy
        metrics.rate_limited_calls.inc()
        if admission is Admission.CLOSE:
            metrics.flood_closes.inc()
            self._closing = True
            log.warning("station keeps flooding; closing the connection",
                        rejected=policy.close_after, window_seconds=policy.window)
            # Not awaited here: the frames already queued must keep being read (and ignored)
            # for the station's close frame to arrive, else the close waits for its timeout.
            self.flood_close = asyncio.create_task(self._connection.close(FLOOD_CLOSE_CODE, (
                f"too many calls: {policy.close_after} over the limit of "
                f"{policy.calls_per_second:g}/s within {policy.window:g} s")))
            return False
        if self._flood.rejected_in_a_row == 1:  # once per run of rejections, not per call
            log.warning("station over its call rate limit; answering GenericError",
                        message_id=message_id, limit_per_second=policy.calls_per_second,
                        burst=policy.burst)
        await self._send(self._call_error(message_id, GenericError(
            description=(f"Rate limit exceeded: at most {policy.calls_per_second:g} calls/s "
                         f"(bursts of {policy.burst}); call not processed, retry later"),
            details={"cause": "rate limit exceeded",
                     "limitPerSecond": policy.calls_per_second, "burst": policy.burst})))
        return False

    async def answer(self, call: Call, received_at: datetime) -> str:
        """The frame to send back for `call`, after its event was confirmed."""
        metric_action = call.action if call.action in self.known_actions else "unknown"
        count = self.services.metrics.count_call
        self._authorization, self._unconfirmed = None, []
        try:
            response = await self._response_payload(call)
        except OCPPError as error:
            self._undo_starts()
            count(metric_action, "rejected")
            log.info("call rejected", message_id=call.unique_id, action=call.action,
                     error=error.code, cause=error.details)
            return self._call_error(call.unique_id, error)
        except Exception:
            count(metric_action, "error")
            log.exception("handler failed", message_id=call.unique_id, action=call.action)
            self._undo_starts()
            return self._call_error(call.unique_id, InternalError())
        event = Event.for_call(
            station_id=self.session.station_id, ocpp_version=self._ocpp_version,
            connection_id=self.session.connection_id, message_id=call.unique_id,
            action=call.action, received_at=received_at, payload=call.payload,
            response=response, authorization=self._authorization)
        try:
            await self.services.publisher.publish(event)
        except PublishFailed as failure:
            self._undo_starts()
            count(metric_action, "publish_failed")
            log.warning("event not confirmed; answering InternalError",
                        message_id=call.unique_id, action=call.action, cause=str(failure))
            return self._call_error(call.unique_id, InternalError(
                description="Event could not be stored; please retry",
                details={"cause": "broker unavailable"}))
        count(metric_action, "accepted")
        return CallResult(call.unique_id, response).to_json()

    def authorize_token(self, id_tag: str, token_type: str | None = None,
                        charge: ChargeRef | None = None,
                        evse_id: int | None = None) -> tuple[TokenRequest, Decision]:
        """Answer an id token from the authorization policy; remembered for the event.
        `evse_id`: where it is presented (None: the station, as Authorize names no EVSE)."""
        station = self._registered()
        request = TokenRequest(id_tag, self.session.station_id,
                               station.site_id if station is not None else None, token_type,
                               station.types_of(evse_id) if station is not None else None)
        decision = self.services.authorization.authorize(request, charge)
        if decision.known is not None and id_tag:  # an empty token (NoAuthorization) is no card
            self._authorization = {"id_tag": id_tag, "known": decision.known,
                                   "unknown_accepted": decision.unknown_accepted}
        return request, decision

    def charge_started(self, request: TokenRequest, charge: ChargeRef) -> None:
        """Counted against the tag's limit now; taken back if the event is not confirmed."""
        self.services.authorization.charge_started(request, charge)
        self._unconfirmed.append((request, charge))

    def charge_stopped(self, transaction_id: str, id_tag: str | None) -> None:
        self.services.authorization.charge_stopped(
            ChargeRef(self.session.station_id, transaction_id), id_tag)

    def _undo_starts(self) -> None:
        for request, charge in self._unconfirmed:
            self.services.authorization.start_not_confirmed(request, charge)
        self._unconfirmed = []

    def _registered(self) -> RegisteredStation | None:
        registry = self.services.station_registry
        return registry.get(self.session.station_id) if registry is not None else None

    async def _response_payload(self, call: Call) -> dict[str, Any]:
        handlers = self.route_map.get(call.action)
        if not handlers or "_on_action" not in handlers:
            raise unknown_action_error(call.action, self.known_actions, self._ocpp_version)
        validate(call, self._ocpp_version)
        handler = handlers["_on_action"]  # a plain function: the map is the class's
        if _reads_payload(handler):
            result = handler(self, **camel_to_snake_case(call.payload))
        else:  # `**_` only: skip converting every key of, e.g., MeterValues to snake_case
            result = handler(self)
        if inspect.isawaitable(result):
            result = await result
        payload = snake_to_camel_case(remove_nones(serialize_as_dict(result)))
        if self.services.validate_responses:
            validate(CallResult(call.unique_id, payload, action=call.action), self._ocpp_version)
        return payload

    async def send_call(self, action: str, payload: dict[str, Any],
                        timeout: float) -> tuple[Call, CallResult | CallError]:
        """Send a server-initiated call (a remote command) and return it with the answer.

        The request is validated against the station's schema first (OCPPError when it does
        not fit). One outstanding call per connection (OCPP-J): waiting for an earlier
        command's answer counts against `timeout`; TimeoutError when no answer came in time.
        """
        call = Call(str(uuid.uuid4()), action, payload)
        validate(call, self._ocpp_version)
        self._commands_in_progress += 1
        try:
            async with asyncio.timeout(timeout), self._call_lock:
                try:
                    await self._send(call.to_json())
                except ConnectionClosed as error:
                    raise StationConnectionClosed(str(error)) from error
                while True:
                    response = await self._response_queue.get()
                    if response.unique_id == call.unique_id:
                        return call, response
                    log.info("late answer to an earlier command ignored",
                             message_id=response.unique_id)
        finally:
            self._commands_in_progress -= 1
            if not self._commands_in_progress and self._commands is not None \
                    and self._commands[1].empty():
                self._commands = None  # nothing kept between commands (a late answer is)

    def _call_error(self, message_id: str, error: OCPPError) -> str:
        code = error_code(self._ocpp_version, error)
        return CallError(message_id, code, error.description, error.details).to_json()

    async def _send(self, message: str) -> None:
        await self._connection.send(message)

    def registration_accepted(self) -> bool:
        """False while the station is pending: unknown to the registry when it connected and
        still not registered (BootNotification is then answered Pending)."""
        if self.pending:
            registry = self.services.station_registry
            if registry is not None and registry.get(self.session.station_id) is not None:
                self.pending = False
        return not self.pending

    def boot_interval(self) -> int:
        if self.pending:
            return min(self.services.heartbeat_interval, PENDING_RETRY_INTERVAL)
        return self.services.heartbeat_interval

    def now(self) -> str:
        return rfc3339(self.services.clock.now())
