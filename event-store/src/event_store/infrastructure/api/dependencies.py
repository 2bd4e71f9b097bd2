"""Request-scoped access to the objects built by bootstrap (kept on `app.state`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from event_store.domain.events import as_utc
from event_store.domain.ports import EventStorage
from event_store.service.replay import ReplayService


def get_storage(request: Request) -> EventStorage:
    return request.app.state.storage


def get_replays(request: Request) -> ReplayService:
    replays: ReplayService | None = request.app.state.replays
    if replays is None:
        raise HTTPException(503, "replay is not available: no broker configured (AMQP_URL)")
    return replays


StorageDep = Annotated[EventStorage, Depends(get_storage)]
ReplaysDep = Annotated[ReplayService, Depends(get_replays)]


def invalid_parameter(location: str, name: str, message: str, value: Any) -> RequestValidationError:
    """A 422 in FastAPI's own format, naming the parameter."""
    return RequestValidationError([{"type": "value_error", "loc": (location, name),
                                    "msg": message, "input": value}])


def check_date_range(start_date: datetime | None, end_date: datetime | None) -> None:
    if start_date is not None and end_date is not None and as_utc(end_date) < as_utc(start_date):
        raise invalid_parameter("query", "end_date", "end_date must not be before start_date",
                                end_date.isoformat())
