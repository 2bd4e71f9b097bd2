"""Sign-in, sign-out, language, the overview and its live stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from save_server.domain.access import Permission, Principal
from save_server.infrastructure.dashboard import views
from save_server.infrastructure.dashboard.i18n import LANGUAGE_COOKIE, LANGUAGES
from save_server.infrastructure.dashboard.live import LiveFeed
from save_server.infrastructure.dashboard.load_view import refused_stations
from save_server.infrastructure.dashboard.rendering import render
from save_server.infrastructure.dashboard.session import (
    PageError,
    Sessions,
    check_csrf,
    page,
)
from save_server.service.sign_in import SignInFailed, Throttled

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(page(Permission.STATIONS_READ))]
Anyone = Annotated[Principal, Depends(page())]
STREAM_SECONDS = 25.0  # a stream ends after this; the browser reconnects (a stop never waits)
PUBLIC_PAGES = frozenset({"/", "/ui/sign-in", "/ui/language"})


def _safe_next(target: str | None) -> str:
    """Only a path of this dashboard (no open redirect)."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/overview"


@router.get("/")
def root() -> Response:
    return RedirectResponse("/ui/overview", 303)


@router.get("/ui/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return render(request, "sign_in.html", next=_safe_next(next), error=None)


@router.post("/ui/sign-in")
async def sign_in(request: Request) -> Response:
    await check_csrf(request)
    form = await request.form()
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""))
    sessions: Sessions = request.app.state.dashboard_sessions
    client = request.client.host if request.client else "unknown"
    try:
        tokens = await sessions.sign_in(email, password, client)
    except (SignInFailed, Throttled) as error:
        message = "too_many" if isinstance(error, Throttled) else "wrong"
        return render(request, "sign_in.html", status_code=401 if message == "wrong" else 429,
                      next=target, error=message, email=email)
    response = RedirectResponse(target, 303)
    sessions.keep(request, response, tokens)
    return response


@router.post("/ui/sign-out")
async def sign_out(request: Request, caller: Anyone) -> Response:
    sessions: Sessions = request.app.state.dashboard_sessions
    await sessions.sign_out(caller)
    response = RedirectResponse("/ui/sign-in", 303)
    sessions.policy.clear(request, response)
    request.state.signed_out = True
    return response


@router.post("/ui/language")
async def choose_language(request: Request) -> Response:
    await check_csrf(request)
    form = await request.form()
    chosen = str(form.get("lang") or "")
    if chosen not in LANGUAGES:
        raise PageError(400, f"unknown language {chosen!r}")
    response = RedirectResponse(_safe_next(str(form.get("next") or "")), 303)
    response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=365 * 86400, path="/",
                        samesite="strict", httponly=True,
                        secure=request.url.scheme == "https")
    return response


def visible_summaries(request: Request, caller: Principal) -> list[views.StationSummary]:
    """Every station the caller may see (the API's scope rule), with its site."""
    reader = request.app.state.dependencies.station_reader
    sites = {r.station_id: r.site_id for r in request.app.state.registry.list_registrations()}
    refused = refused_stations(request.app.state.dashboard_power().values())
    return [views.summary(document, sites.get(document["id"]), document["id"] in refused)
            for document in json.loads(reader.list_documents())
            if caller.sees_station(document["id"])]


@router.get("/ui/overview")
def overview(request: Request, caller: Viewer, site: str | None = None,
             state: str | None = None, q: Annotated[str | None, Query(max_length=100)] = None,
             page_number: Annotated[int, Query(alias="page", ge=1)] = 1) -> Response:
    query = views.OverviewQuery(site or None, state if state in views.FILTERS else None,
                                (q or "").strip() or None, page_number)
    stations = visible_summaries(request, caller)
    now = datetime.now(UTC)
    counts = views.counts(stations, now)
    chosen = views.problems_first(s for s in stations if query.matches(s))
    rows, pages = views.page_of(chosen, query.page)
    site_ids = {s.site_id for s in stations if s.site_id}
    sites = [s for s in request.app.state.registry.list_sites() if s.site_id in site_ids]
    base = {k: v for k, v in (("site", query.site), ("state", query.state),
                              ("q", query.search)) if v}
    return render(request, "overview.html", counts=counts, rows=rows, pages=pages,
                  page=min(query.page, pages), query=query, sites=sites, states=views.FILTERS,
                  matched=len(chosen), now=now,
                  page_url=lambda n: "/ui/overview?" + urlencode({**base, "page": n}))


@router.get("/ui/overview/counts")
def overview_counts(request: Request, caller: Viewer) -> Response:
    """The counts of the overview, for its script to refresh after live changes (at most
    every few seconds, only when a station the caller sees changed)."""
    counts = views.counts(visible_summaries(request, caller), datetime.now(UTC))
    return Response(json.dumps({"total": counts.total, "connected": counts.connected,
                                "charging": counts.charging, "faulted": counts.faulted,
                                "offline": counts.offline_long}),
                    media_type="application/json")


@router.get("/ui/live/stations")
async def live_stations(request: Request, caller: Viewer) -> Response:
    """Server-sent events: `stations` batches of the visible stations that changed."""
    feed: LiveFeed = request.app.state.dashboard_feed
    subscription, missed = feed.subscribe(request.headers.get("last-event-id"))

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"retry: {int(feed.interval * 2000)}\n\n"
            if not request.headers.get("last-event-id"):
                yield f"id: {feed.current_id()}\nevent: hello\ndata: {{}}\n\n"
            if missed is None:
                yield "event: resync\ndata: {}\n\n"
                return
            for batch in missed:
                yield _message(batch, caller)
            loop = asyncio.get_running_loop()
            ends = loop.time() + STREAM_SECONDS
            while (left := ends - loop.time()) > 0:
                try:
                    batch = await asyncio.wait_for(subscription.queue.get(), left)
                except TimeoutError:
                    break
                if batch is None:
                    break
                if message := _message(batch, caller):
                    yield message
        finally:
            feed.unsubscribe(subscription)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


def _message(batch: tuple[str, list[views.StationSummary]], caller: Principal) -> str:
    event_id, stations = batch
    visible = [s.live() for s in stations if caller.sees_station(s.station_id)]
    data = json.dumps(visible, separators=(",", ":")) if visible else "[]"
    return f"id: {event_id}\nevent: stations\ndata: {data}\n\n"
