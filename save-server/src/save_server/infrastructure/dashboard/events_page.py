"""The events page (admins, and operators read-only): browse the event-store by station,
type and period, open one event's payload, start a replay (confirmed first) and watch it.

The event-store is another service: these pages call its API server-side with the signed-in
person's own access token, so the event-store applies its own permissions (`events:read`,
`events:replay`) and records the replay's starter as usual. Without `EVENT_STORE_URL` the
pages say the event-store is not configured.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlparse
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from save_server.domain.access import Permission, Principal
from save_server.infrastructure.dashboard.i18n import DEFAULT_TIMEZONE
from save_server.infrastructure.dashboard.rendering import render
from save_server.infrastructure.dashboard.session import ACCESS_COOKIE, CSRF_FIELD, PageError, page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(page(Permission.EVENTS_READ))]
Replayer = Annotated[Principal, Depends(page(Permission.EVENTS_REPLAY))]
PAGE_SIZE = 50
TARGETS = ("save-server", "all")


async def event_store_call(request: Request, method: str, path: str,
                           **kwargs: Any) -> httpx.Response:
    """The event-store's API with the signed-in person's own token (its rules apply)."""
    base = getattr(request.app.state, "event_store_url", None)
    if not base:
        raise PageError(503, "the event-store's address is not configured (EVENT_STORE_URL)")
    renewed = getattr(request.state, "renewed_tokens", None)
    token = renewed.access_token if renewed else request.cookies.get(ACCESS_COOKIE)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            answer = await client.request(method, path, headers={
                "Authorization": f"Bearer {token}"}, **kwargs)
    except httpx.HTTPError as error:
        raise PageError(503, f"the event-store does not answer: {error}") from error
    if answer.status_code == 401:  # it learns accounts and sign-ins from their events
        raise PageError(503, "the event-store has not received your sign-in yet: try again "
                             "in a few seconds")
    if answer.status_code == 403:
        raise PageError(403, "the event-store refuses this to your role")
    if answer.status_code == 404:
        raise PageError(404, "no such event or replay")
    if answer.status_code in (400, 422):
        raise PageError(400, f"the event-store refused the filter: {answer.text[:300]}")
    if answer.status_code >= 300:
        raise PageError(502, f"the event-store answered {answer.status_code}")
    return answer


def _day(value: str | None, end: bool = False) -> str | None:
    """A form day (São Paulo) as the event-store's UTC bound."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise PageError(400, "dates: yyyy-mm-dd") from error
    at = datetime.combine(day + timedelta(days=1) if end else day, time(),
                          ZoneInfo(DEFAULT_TIMEZONE))
    if end:
        at -= timedelta(microseconds=1)
    return at.isoformat()


def _filters(request: Request) -> dict[str, str]:
    q = request.query_params
    return {k: q[k] for k in ("station", "type", "from", "to") if q.get(k)}


def _query(filters: dict[str, str]) -> dict[str, Any]:
    query: dict[str, Any] = {"limit": PAGE_SIZE}
    if "station" in filters:
        query["charging_station_id"] = filters["station"]
    if "type" in filters:
        query["type"] = filters["type"]
    if start := _day(filters.get("from")):
        query["start_date"] = start
    if end := _day(filters.get("to"), end=True):
        query["end_date"] = end
    return query


@router.get("/ui/events")
async def events(request: Request, caller: Reader) -> Response:
    filters = _filters(request)
    query = _query(filters)
    if after := request.query_params.get("after"):
        query["after"] = after
    answer = await event_store_call(request, "GET", "/events", params=query)
    next_after = None
    if "next" in answer.links:
        next_after = parse_qs(urlparse(answer.links["next"]["url"]).query).get(
            "after", [None])[0]
    replays: list[dict[str, Any]] = []
    if caller.can(Permission.EVENTS_REPLAY):
        replays = (await event_store_call(request, "GET", "/replays")).json()
    return render(request, "events.html", events=answer.json(), filters=filters,
                  next_url=(f"/ui/events?{urlencode({**filters, 'after': next_after})}"
                            if next_after else None),
                  replays=replays[-10:][::-1], targets=TARGETS)


@router.get("/ui/events/{event_id}")
async def event(request: Request, caller: Reader, event_id: str) -> Response:
    found = (await event_store_call(request, "GET", f"/events/{event_id}")).json()
    return render(request, "event.html", event=found,
                  pretty=json.dumps(found, indent=2, ensure_ascii=False, sort_keys=True))


@router.post("/ui/events/replays")
async def start_replay(request: Request, caller: Replayer) -> Response:
    form = await request.form()
    fields = {k: str(v) for k, v in form.items() if k not in (CSRF_FIELD, "confirmed") and v}
    target = fields.get("target", "")
    if target not in TARGETS:
        raise PageError(400, f"target: one of {', '.join(TARGETS)}")
    if form.get("confirmed") != "yes":
        return render(request, "replay_confirm.html", fields=fields)
    body: dict[str, Any] = {"target": target, "type": [fields["type"]] if "type" in fields
                            else []}
    if "station" in fields:
        body["charging_station_id"] = fields["station"]
    if start := _day(fields.get("from")):
        body["start_date"] = start
    if end := _day(fields.get("to"), end=True):
        body["end_date"] = end
    job = (await event_store_call(request, "POST", "/replays", json=body)).json()
    return RedirectResponse(f"/ui/events/replays/{job['id']}", 303)


@router.get("/ui/events/replays/{replay_id}")
async def replay(request: Request, caller: Replayer, replay_id: str) -> Response:
    job = (await event_store_call(request, "GET", f"/replays/{replay_id}")).json()
    return render(request, "replay.html", job=job,
                  running=job.get("state") in ("pending", "running"))
