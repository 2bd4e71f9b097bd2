"""Health and metrics on their own port: GET /health, /ready, /metrics (plain HTTP).

A websockets server whose `process_request` answers every request, so it never upgrades.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from prometheus_client import CONTENT_TYPE_LATEST
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from ocpp_events.infrastructure.metrics import GatewayMetrics


class HealthServer:
    def __init__(self, host: str, port: int, metrics: GatewayMetrics,
                 is_ready: Callable[[], bool],
                 details: Callable[[], list[str]] | None = None) -> None:
        self._host, self._port = host, port
        self._metrics = metrics
        self._is_ready = is_ready
        self._details = details or list
        self._server: Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await serve(self._never_called, self._host, self._port,
                                   process_request=self._respond)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _respond(self, connection: ServerConnection, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        if path == "/health":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path == "/ready":
            details = "".join(f"{line}\n" for line in self._details())
            if self._is_ready():
                return connection.respond(HTTPStatus.OK, f"ready\n{details}")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE,
                                      f"broker unreachable\n{details}")
        if path == "/metrics":
            response = connection.respond(HTTPStatus.OK, self._metrics.render().decode())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response
        return connection.respond(HTTPStatus.NOT_FOUND, "not found: /health /ready /metrics\n")

    @staticmethod
    async def _never_called(connection: ServerConnection) -> None:
        await connection.close()
