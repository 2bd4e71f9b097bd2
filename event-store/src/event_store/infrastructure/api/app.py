"""Builds the FastAPI application around already-built storage and replay service."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from event_store import metrics
from event_store.domain.ports import EventStorage
from event_store.infrastructure.api import events, health, replays
from event_store.service.replay import ReplayService


def create_app(storage: EventStorage, replay_service: ReplayService | None) -> FastAPI:
    app = FastAPI(title="event-store", version="0.1.0",
                  description="Every event kept, queryable, and replayable.")
    app.state.storage = storage
    app.state.replays = replay_service
    app.include_router(events.router)
    app.include_router(replays.router)
    app.include_router(health.router)

    @app.middleware("http")
    async def observe_latency(request: Request,
                              call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.HTTP_SECONDS.labels(request.method, route, str(response.status_code)).observe(
            time.perf_counter() - started)
        return response

    return app
