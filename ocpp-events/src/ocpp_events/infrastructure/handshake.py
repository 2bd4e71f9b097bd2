"""Admission at the websocket upgrade: who the station is, whether it may connect.

Runs in `process_request`, before the upgrade: a refused station gets an HTTP answer
(401 with a Basic challenge, 403, 404 or 429), a metric and a
`ocpp-events.security.handshake-refused` event, and never reaches the OCPP session, so it
cannot replace a live connection of the station it pretends to be. Secrets (the
Authorization header, passwords) are never logged or published.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.protocol import State

from ocpp_events.domain.admission import (
    AdmissionPolicy,
    Admitted,
    Handshake,
    Reason,
    Refused,
)
from ocpp_events.domain.events import Event
from ocpp_events.domain.handshake_limits import FailedHandshakes
from ocpp_events.domain.ports import StationRegistry
from ocpp_events.infrastructure.metrics import GatewayMetrics
from ocpp_events.infrastructure.tls import client_certificate

log = structlog.get_logger("ocpp_events.admission")
REFUSED_TYPE = "ocpp-events.security.handshake-refused"


def offered_versions(request: Request) -> tuple[str, ...]:
    offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
    return tuple(p.strip().removeprefix("ocpp") for p in offered.split(",")
                 if p.strip().startswith("ocpp"))


def guarded_connection(blocked: Callable[[str], bool]) -> type[ServerConnection]:
    """A ServerConnection that drops a blocked address as soon as it is made: no HTTP
    parsing, no answer (about half the gateway's CPU of answering a flood 429).

    It also keeps less per connection (thousands of idle stations: docs/performance-log.md,
    "Embedded mode: memory"): once the upgrade is done, the handshake's headers are let go
    (nothing reads them after admission; `request.path` stays), and the waiters of a paused
    write are a list rather than a deque (~0.7 KiB each, empty unless the station stops
    reading). The security limits (max_size, max_queue, write_limit) are websockets' own."""

    class GuardedConnection(ServerConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.drain_waiters = []  # type: ignore[assignment]  # append/remove/iterate only

        async def handshake(self, *args: Any, **kwargs: Any) -> None:
            await super().handshake(*args, **kwargs)
            if self.protocol.state is State.OPEN:
                if self.request is not None:
                    self.request.headers = Headers()
                if self.response is not None:
                    self.response.headers = Headers()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer = transport.get_extra_info("peername")
            if peer and blocked(str(peer[0])):
                Connection.connection_made(self, transport)  # what connection_lost expects
                transport.abort()  # never handed to the server's handler
                return
            super().connection_made(transport)

    return GuardedConnection


def remote_address(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if address else "unknown"


class HandshakeGuard:
    def __init__(self, registry: StationRegistry, policy: AdmissionPolicy,
                 by_address: FailedHandshakes, by_station: FailedHandshakes,
                 metrics: GatewayMetrics, refused: Callable[[Event], None],
                 now: Callable[[], datetime], tls: bool) -> None:
        self.registry, self.policy = registry, policy
        self._by_address, self._by_station = by_address, by_station
        self._metrics = metrics
        self._publish_refusal = refused
        self._now = now
        self._tls = tls

    def address_blocked(self, address: str) -> bool:
        """Checked when the connection is made (on wss: after the TLS handshake): a blocked
        address is cut off before any HTTP work (counted; each attempt keeps it blocked)."""
        moment = time.monotonic()
        if self._by_address.retry_after(address, moment) is None:
            return False
        self._by_address.record_failure(address, moment)
        self._metrics.count_refusal(Reason.RATE_LIMITED.code)
        return True

    def admit(self, connection: ServerConnection, request: Request,
              station_id: str) -> Admitted | Refused:
        address = remote_address(connection)
        moment = time.monotonic()
        wait = self._by_address.retry_after(address, moment)
        if wait is not None:
            self._by_address.record_failure(address, moment)
            return self._refuse(station_id, address, request, Refused(
                Reason.RATE_LIMITED, "too many failed handshakes from this address", wait),
                announce=False)
        ssl_object = connection.transport.get_extra_info("ssl_object") if self._tls else None
        handshake = Handshake(
            station_id=station_id, tls=self._tls,
            authorization=request.headers.get("Authorization"),
            certificate=client_certificate(ssl_object),
            offered_versions=offered_versions(request))
        decision = self.policy.decide(handshake, self.registry.get(station_id), self._now())
        if isinstance(decision, Admitted):
            return decision
        newly_blocked = self._count_failure(address, station_id, moment)
        wait = self._by_station.retry_after(station_id, moment)
        if wait is not None and not newly_blocked:
            decision = Refused(Reason.RATE_LIMITED,
                               "too many failed handshakes for this station id", wait)
            return self._refuse(station_id, address, request, decision, announce=False)
        return self._refuse(station_id, address, request, decision, announce=True)

    def _count_failure(self, address: str, station_id: str, moment: float) -> bool:
        """Count a failure; True when it is the one that blocks the station id."""
        blocked_before = self._by_station.retry_after(station_id, moment) is not None
        self._by_address.record_failure(address, moment)
        self._by_station.record_failure(station_id, moment)
        return not blocked_before and self._by_station.retry_after(station_id, moment) is not None

    def _refuse(self, station_id: str, address: str, request: Request, refusal: Refused,
                announce: bool) -> Refused:
        reason = refusal.reason
        self._metrics.count_refusal(reason.code)
        if not announce:  # a rate-limited flood: counted, not logged or published one by one
            return refusal
        log.warning("handshake refused", charging_station_id=station_id,
                    reason=reason.code, status=reason.status, remote_address=address,
                    detail=refusal.detail)
        self._publish_refusal(Event(
            type=REFUSED_TYPE, charging_station_id=station_id, ocpp_version=None,
            connection_id=None, message_id=None, action=None, received_at=self._now(),
            payload={"reason": reason.code, "http_status": reason.status,
                     "detail": refusal.detail, "remote_address": address, "tls": self._tls,
                     "offered_subprotocols": [f"ocpp{v}" for v in offered_versions(request)],
                     "user_agent": (request.headers.get("User-Agent") or "")[:200] or None},
            response=None))
        return refusal
