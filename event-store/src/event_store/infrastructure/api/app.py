"""Builds the FastAPI application around already-built storage and replay service."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from event_store import metrics
from event_store.domain.ports import EventStorage
from event_store.infrastructure.api import events, health, replays
from event_store.infrastructure.api.security import (
    check_every_route_protected,
    document_access_errors,
)
from event_store.service.authentication import Authenticator
from event_store.service.replay import ReplayService


def create_app(storage: EventStorage, replay_service: ReplayService | None,
               authenticator: Authenticator) -> FastAPI:
    app = FastAPI(title="event-store", version="0.1.0",
                  description="Every event kept, queryable, and replayable. Every endpoint "
                              "but the probes needs `Authorization: Bearer <save-server API "
                              "key or access token>`.")
    app.state.storage = storage
    app.state.replays = replay_service
    app.state.authenticator = authenticator
    app.include_router(events.router)
    app.include_router(replays.router)
    app.include_router(health.router)
    check_every_route_protected(app)
    document_access_errors(app)

    app.add_middleware(LatencyMiddleware)
    return app


class LatencyMiddleware:
    """Request latency per (method, route, status) as a plain ASGI middleware: no
    `BaseHTTPMiddleware` request/response wrapping and task hop on every request."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[Any] = [500]

        async def send_and_note_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_note_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.HTTP_SECONDS.labels(scope["method"], route, str(status[0])).observe(
                time.perf_counter() - started)
