"""`/events`: stored events, oldest first, keyset pagination with a `Link` header."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from event_store.domain.events import StoredEvent, as_utc, format_date
from event_store.domain.queries import Cursor, EventQuery, InvalidCursor
from event_store.infrastructure.api.dependencies import (
    StorageDep,
    check_date_range,
    invalid_parameter,
)
from event_store.infrastructure.api.security import Reader
from event_store.service.query import list_events

router = APIRouter(tags=["events"])
REDACTED_PREFIXES = ("accounts.", "registry.")  # password, key and station-password hashes

MAX_LIMIT = 1000

StartDate = Annotated[datetime | None, Query(description="inclusive, RFC 3339; naive = UTC")]
EndDate = Annotated[datetime | None, Query(description="inclusive, RFC 3339; naive = UTC")]


class EventOut(BaseModel):
    """The envelope as received plus the indexed fields; unknown envelope fields are kept."""

    model_config = ConfigDict(extra="allow")
    event_id: str
    type: str
    date: str
    charging_station_id: str | None
    payload: dict | None


class EventStatsOut(BaseModel):
    start_date: str | None
    end_date: str | None
    total: int
    by_type: dict[str, int]
    by_day: dict[str, int]


@router.get("/events", response_model=list[EventOut])
def get_events(
    request: Request,
    storage: StorageDep,
    _: Reader,
    start_date: StartDate = None,
    end_date: EndDate = None,
    type: Annotated[list[str] | None, Query(description="event type; repeatable")] = None,
    charging_station_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    after: Annotated[str | None, Query(description="cursor from the `Link` header")] = None,
) -> Response:
    """Events oldest first; the next page's URL is in `Link: <...>; rel="next"`."""
    check_date_range(start_date, end_date)
    try:
        cursor = Cursor.decode(after) if after is not None else None
    except InvalidCursor as error:
        raise invalid_parameter("query", "after", str(error), after) from error
    query = EventQuery(start_date, end_date, tuple(type or ()), charging_station_id, cursor, limit)
    page = list_events(storage, query)
    headers = {}
    if page.next_cursor is not None:
        next_url = request.url.include_query_params(after=page.next_cursor.encode())
        headers["Link"] = f'<{next_url}>; rel="next"'
    body = b"[" + b",".join(public_json(event) for event in page.events) + b"]"
    return Response(body, media_type="application/json", headers=headers)


@router.get("/events/stats", response_model=EventStatsOut)
def get_event_stats(storage: StorageDep, _: Reader, start_date: StartDate = None,
                    end_date: EndDate = None) -> EventStatsOut:
    """Counts per type and per UTC day for the date range."""
    check_date_range(start_date, end_date)
    stats = storage.stats(start_date and as_utc(start_date), end_date and as_utc(end_date))
    return EventStatsOut(
        start_date=format_date(start_date) if start_date else None,
        end_date=format_date(end_date) if end_date else None,
        total=stats.total, by_type=stats.by_type, by_day=stats.by_day)


@router.get("/events/{event_id}", response_model=EventOut,
            responses={404: {"description": "no event with this id"}})
def get_event(event_id: str, storage: StorageDep, _: Reader) -> Response:
    event = storage.get(event_id)
    if event is None:
        raise HTTPException(404, f"no event with event_id {event_id!r}")
    return Response(public_json(event), media_type="application/json")


def public_json(event: StoredEvent) -> bytes:
    """The event as the API shows it: account and registry events without their password,
    key and station-password hashes (they stay in the store, so a replay still rebuilds
    save-server's accounts and registry)."""
    if not event.type.startswith(REDACTED_PREFIXES):
        return event.document_json()
    document = event.as_document()
    payload = document.get("payload")
    if isinstance(payload, dict):
        document["payload"] = {k: ("<redacted>" if (k.endswith("_hash") or k == "passwords")
                                   and v else v)
                               for k, v in payload.items()}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
