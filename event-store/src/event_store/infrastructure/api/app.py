"""Builds the FastAPI application around already-built storage and replay service."""

from __future__ import annotations

from fastapi import FastAPI

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
    return app
