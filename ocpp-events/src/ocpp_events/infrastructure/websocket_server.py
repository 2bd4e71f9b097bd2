"""The OCPP-J websocket server: handshake checks, one session per connection, disconnects."""

from __future__ import annotations

import asyncio
import math
import ssl
import uuid
from collections.abc import Coroutine
from http import HTTPStatus
from typing import Any

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from ocpp_events.domain.admission import Admitted, Refused
from ocpp_events.domain.events import Event
from ocpp_events.domain.ports import PublishFailed
from ocpp_events.domain.station_id import InvalidStationId, OutsidePrefix, station_id_from_path
from ocpp_events.infrastructure.handshake import HandshakeGuard, guarded_connection
from ocpp_events.infrastructure.ocpp.charge_point import GatewayChargePoint
from ocpp_events.infrastructure.ocpp.session import GatewayServices, Session
from ocpp_events.infrastructure.ocpp.v16 import ChargePoint16
from ocpp_events.infrastructure.ocpp.v201 import ChargePoint21, ChargePoint201
from ocpp_events.service.registry import ConnectionRegistry, StationConnection

log = structlog.get_logger("ocpp_events.server")

# Preferred first when a station offers several.
SESSIONS: dict[str, type[GatewayChargePoint]] = {
    "ocpp2.1": ChargePoint21,
    "ocpp2.0.1": ChargePoint201,
    "ocpp1.6": ChargePoint16,
}
REPLACED_CLOSE_CODE = 4000
REPLACED_REASON = "replaced by a new connection"
REVOKED_CLOSE_CODE = 1008  # policy violation: the registry no longer admits the connection
RECHECK_INTERVAL = 30.0  # seconds between checks for passwords whose grace period ended


class OcppServer:
    def __init__(
        self, services: GatewayServices, *, host: str, port: int, path_prefix: str,
        max_frame_bytes: int, ping_interval: float | None, ping_timeout: float | None,
        compression: bool, close_timeout: float, disconnect_retry_seconds: float,
        listen_backlog: int = 4096, lifecycle_publish_concurrency: int = 256,
        guard: HandshakeGuard | None = None, ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.services = services
        self.registry = ConnectionRegistry()
        self._host, self._port, self._prefix = host, port, path_prefix
        self._max_frame_bytes = max_frame_bytes
        self._ping_interval, self._ping_timeout = ping_interval, ping_timeout
        self._compression = compression
        self._close_timeout = close_timeout
        self._disconnect_retry_seconds = disconnect_retry_seconds
        self.listen_backlog = listen_backlog
        # Bounds the connect/disconnect publishes in flight: at shutdown every station's
        # disconnect is published at once, and 10,000 unbounded publishes on one channel
        # outlast the publish timeout and get retried.
        self._lifecycle_slots = asyncio.Semaphore(lifecycle_publish_concurrency)
        self._server: Server | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.guard = guard  # None: every station is admitted (tests of the OCPP layer)
        self._ssl = ssl_context
        self._recheck: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await serve(
            self._handle, self._host, self._port,
            subprotocols=list(SESSIONS),  # type: ignore[arg-type]
            process_request=self._check_request,
            max_size=self._max_frame_bytes,
            ping_interval=self._ping_interval, ping_timeout=self._ping_timeout,
            compression="deflate" if self._compression else None,
            close_timeout=self._close_timeout, ssl=self._ssl,
            select_subprotocol=self._select_subprotocol,
            create_connection=guarded_connection(self._address_blocked),
            backlog=self.listen_backlog)  # passed on to loop.create_server
        if self.guard is not None:
            self.guard.registry.on_change(self.registry_changed)
            self._recheck = asyncio.create_task(self._recheck_periodically())
        log.info("listening for stations", host=self._host, port=self.port,
                 prefix=self._prefix, tls=self._ssl is not None)

    async def stop(self) -> None:
        """Stop accepting, close every connection with 1001, publish the disconnects."""
        if self._recheck is not None:
            self._recheck.cancel()
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        while self._background:  # disconnect events still being published
            await asyncio.gather(*self._background, return_exceptions=True)

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            station_id = station_id_from_path(request.path, self._prefix)
        except OutsidePrefix as error:
            return connection.respond(HTTPStatus.NOT_FOUND, f"{error}\n")
        except InvalidStationId as error:
            return connection.respond(HTTPStatus.BAD_REQUEST, f"{error}\n")
        if self.guard is None:
            return None
        decision = self.guard.admit(connection, request, station_id)
        if isinstance(decision, Refused):
            return refusal_response(connection, decision)
        connection.admission = decision  # type: ignore[attr-defined]
        return None

    def _address_blocked(self, address: str) -> bool:
        return self.guard is not None and self.guard.address_blocked(address)

    @staticmethod
    def _select_subprotocol(connection: ServerConnection,
                            offered: Any) -> str | None:
        """The version the registry allows, else our preference among the offered ones."""
        admission: Admitted | None = getattr(connection, "admission", None)
        if admission is not None and admission.ocpp_version is not None:
            wanted = f"ocpp{admission.ocpp_version}"
            if wanted not in offered:
                raise NegotiationError(f"station is registered for {wanted}")
            return wanted
        return ServerProtocol.select_subprotocol(connection.protocol, offered)

    def registry_changed(self, station_ids: list[str]) -> None:
        """Close the connections the registry no longer admits (deregistered, disabled,
        password rotated out, profile raised)."""
        for station_id in station_ids:
            connection = self.registry.get(station_id)
            if connection is not None:
                self._recheck_connection(connection)

    def _recheck_connection(self, connection: StationConnection) -> None:
        admission, guard = connection.admission, self.guard
        if admission is None or guard is None:
            return
        station = guard.registry.get(connection.station_id)
        reason = guard.policy.still_admitted(admission, station, self.services.clock.now())
        if reason is None:
            return
        self.services.metrics.registry_disconnects.inc()
        log.warning("closing a connection the registry no longer admits",
                    charging_station_id=connection.station_id,
                    connection_id=connection.connection_id, reason=reason)
        self._in_background(connection.websocket.close(REVOKED_CLOSE_CODE, reason))

    async def _recheck_periodically(self) -> None:
        """Passwords in their grace period end by the clock, not by an event."""
        while True:
            await asyncio.sleep(RECHECK_INTERVAL)
            self.recheck_passwords_in_grace()

    def recheck_passwords_in_grace(self) -> None:
        for connection in self.registry.connections():
            admission = connection.admission
            if admission is not None and admission.password is not None \
                    and admission.password.valid_until is not None:
                self._recheck_connection(connection)

    async def _handle(self, websocket: ServerConnection) -> None:
        station_id = station_id_from_path(websocket.request.path, self._prefix)  # type: ignore[union-attr]
        subprotocol = websocket.subprotocol
        session_class = SESSIONS.get(subprotocol or "")
        if session_class is None:  # select_subprotocol refuses this already; belt and braces
            await websocket.close(1002, "no supported OCPP subprotocol")
            return
        session = Session(station_id, str(uuid.uuid4()), session_class._ocpp_version)
        structlog.contextvars.bind_contextvars(
            charging_station_id=station_id, connection_id=session.connection_id)
        charge_point = session_class(session, self.services, websocket)
        admission: Admitted | None = getattr(websocket, "admission", None)
        charge_point.pending = admission is not None and admission.pending
        self.services.transaction_ids.connected(station_id)
        replaced = self.registry.register(StationConnection(
            station_id, session.connection_id, session.ocpp_version, charge_point, websocket,
            admission))
        if replaced is not None:
            log.info("station reconnected; closing its previous connection",
                     previous_connection_id=replaced.connection_id)
            self._in_background(
                replaced.websocket.close(REPLACED_CLOSE_CODE, REPLACED_REASON))
        self.services.metrics.connected_stations.set(len(self.registry))
        if self.services.command_inbox is not None:
            self.services.command_inbox.station_connected(station_id)
        log.info("station connected", ocpp_version=session.ocpp_version)
        self._in_background(self._publish_lifecycle(Event.connect(
            station_id=station_id, ocpp_version=session.ocpp_version,
            connection_id=session.connection_id, at=self.services.clock.now(),
            replaced_connection_id=replaced.connection_id if replaced else None,
            security_profile=admission.security_profile if admission else 0,
            credential=admission.credential if admission else "none",
            password_salt=admission.password.salt.hex() if admission and admission.password
            else None,
            registered=admission.registered if admission else False)))
        try:
            async for frame in websocket:
                await charge_point.route_message(frame)
        except ConnectionClosed:
            pass
        finally:
            current = self.registry.unregister(station_id, session.connection_id)
            if current and self.services.command_inbox is not None:
                self.services.command_inbox.station_disconnected(station_id)
            self.services.metrics.connected_stations.set(len(self.registry))
            close_code, reason = close_details(websocket)
            log.info("station disconnected", close_code=close_code, reason=reason)
            event = Event.disconnect(
                station_id=station_id, ocpp_version=session.ocpp_version,
                connection_id=session.connection_id, at=self.services.clock.now(),
                close_code=close_code, reason=reason)
            self._in_background(self._publish_lifecycle(event))

    def publish_in_background(self, event: Event) -> None:
        """Events nobody waits for (refused handshakes): retried like connect events."""
        self._in_background(self._publish_lifecycle(event))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish_lifecycle(self, event: Event) -> None:
        """Connect and disconnect events: nobody waits for an answer, so retry for a while."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._disconnect_retry_seconds
        delay = 0.2
        while True:
            try:
                async with self._lifecycle_slots:
                    await self.services.publisher.publish(event)
                return
            except PublishFailed as failure:
                if loop.time() + delay > deadline:
                    log.error("connection event lost", type=event.type, event_id=event.event_id,
                              cause=str(failure))
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)



def refusal_response(connection: ServerConnection, refusal: Refused) -> Response:
    reason = refusal.reason
    response = connection.respond(HTTPStatus(reason.status), f"{reason.code}\n")
    if reason.status == HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
    if reason.status == HTTPStatus.TOO_MANY_REQUESTS:
        response.headers["Retry-After"] = str(math.ceil(refusal.retry_after or 1))
    return response


def close_details(websocket: ServerConnection) -> tuple[int, str | None]:
    """Code and reason of whichever side closed first; 1006 when no close frame was seen."""
    closed = websocket.protocol.close_exc
    sent, received = closed.sent, closed.rcvd
    first = received if received and (not sent or closed.rcvd_then_sent) else sent
    if first is None:
        return 1006, None
    return int(first.code), first.reason or None
