"""The sites pages: each site's power gauge (limit vs allocated vs measured, per phase), its
connectors and rotation queue (the load manager's `GET /sites/{id}/power` document), live,
and its allocation history (the `load-management.allocation` events of the event-store).

The same scope rule as `/sites/{id}/power`: a site outside a scoped viewer's sites is a 404.
Live: the page's stream says `power` when the site's power document changes (the load
manager rewrites it on every allocation, and so on every measurement it takes in); the page's
script then fetches the gauge fragment once, however many changes came meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlparse

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from markupsafe import Markup

from save_server.domain.access import Permission, Principal
from save_server.domain.load.documents import model_document
from save_server.infrastructure.dashboard import charts, power_view
from save_server.infrastructure.dashboard.events_page import event_store_call
from save_server.infrastructure.dashboard.i18n import DEFAULT_TIMEZONE, Formatter
from save_server.infrastructure.dashboard.live import LiveFeed
from save_server.infrastructure.dashboard.rendering import language, render
from save_server.infrastructure.dashboard.session import PageError, page
from save_server.infrastructure.registry.api import visible_sites
from save_server.service.load_management import NoElectricalModel, UnknownSite

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(page(Permission.STATIONS_READ))]
ALLOCATION = "load-management.allocation"
HISTORY = timedelta(hours=24)
HISTORY_PAGES = 5  # at most 5,000 allocation events of the whole network per chart
STREAM_SECONDS = 25.0
WATCH_SECONDS = 1.0


def _site(request: Request, caller: Principal, site_id: str) -> Any:
    registry = request.app.state.registry
    visible = visible_sites(registry, caller)
    found = [s for s in registry.list_sites() if s.site_id == site_id]
    if not found or (visible is not None and site_id not in visible):
        raise PageError(404, f"no site {site_id!r}")
    return found[0]


def _power(request: Request, site_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the electrical model, the power document), or None without a model."""
    management = getattr(request.app.state, "load_management", None)
    if management is None:  # an app without load management
        return None
    try:
        model = management.model(site_id)
    except (UnknownSite, NoElectricalModel):
        return None
    return model_document(model), request.app.state.load_allocation.power(model)


def _gauge_context(request: Request, site: Any) -> dict[str, Any]:
    found = _power(request, site.site_id)
    if found is None:
        return {"site": site, "model": None, "power": None}
    model, power = found
    fmt = Formatter(language(request))
    phases = power_view.gauges(model, power)
    legend = {"building": fmt.gettext("building"), "allocated": fmt.gettext("allocated"),
              "usable": fmt.gettext("usable limit"), "measured": fmt.gettext("measured")}
    drawing = power_view.gauge_svg(phases, fmt.gettext("Power per phase"), legend)
    return {"site": site, "model": model, "power": power, "phases": phases,
            "gauge": Markup(drawing), "parse_time": power_view.parse_time,
            "computed_at": power_view.parse_time(power.get("computed_at")),
            "zone": site.timezone or DEFAULT_TIMEZONE,
            "refused": {"rejected", "call_error", "timeout", "unsupported", "offline"}}


@router.get("/ui/sites")
async def sites(request: Request, caller: Reader) -> Response:
    registry = request.app.state.registry

    def view() -> list[dict[str, Any]]:
        visible = visible_sites(registry, caller)
        rows = []
        for site in registry.list_sites():
            if visible is None or site.site_id in visible:
                found = _power(request, site.site_id)
                phases = power_view.gauges(*found) if found else []
                rows.append({"site": site, "phases": phases,
                             "paused": len(found[1].get("queue") or ()) if found else 0})
        return rows
    return render(request, "sites.html", rows=await asyncio.to_thread(view))


@router.get("/ui/sites/{site_id}")
async def site(request: Request, caller: Reader, site_id: str) -> Response:
    found = await asyncio.to_thread(_site, request, caller, site_id)
    context = await asyncio.to_thread(_gauge_context, request, found)
    return render(request, "site.html", **context)


@router.get("/ui/sites/{site_id}/history.svg")
async def site_history(request: Request, caller: Reader, site_id: str) -> Response:
    """The page's allocation history, a standalone SVG (shown by the page with `<img>`); when
    the event-store does not answer, an empty chart that says so, with the error's status."""
    found = await asyncio.to_thread(_site, request, caller, site_id)
    power = await asyncio.to_thread(_power, request, site_id)
    if power is None:
        raise PageError(404, f"site {site_id!r} has no electrical model")
    zone = found.timezone or DEFAULT_TIMEZONE
    fmt = Formatter(language(request))
    try:
        allocations = await _allocations(request, site_id)
    except PageError as error:
        message = f'{fmt.gettext("The allocation history is not available:")} {error}'
        return charts.response(_history_chart(fmt, power[0], [], zone, message),
                               error.status)
    return charts.response(_history_chart(fmt, power[0], allocations, zone))


@router.get("/ui/live/sites/{site_id}/power")
async def site_power_fragment(request: Request, caller: Reader, site_id: str) -> Response:
    """The gauge, connectors and queue alone, for the page's script to swap in."""
    found = await asyncio.to_thread(_site, request, caller, site_id)
    context = await asyncio.to_thread(_gauge_context, request, found)
    return render(request, "_site_power.html", **context)


@router.get("/ui/live/sites/{site_id}")
async def site_stream(request: Request, caller: Reader, site_id: str) -> Response:
    """Server-sent events: `power` whenever the site's power document changed."""
    await asyncio.to_thread(_site, request, caller, site_id)
    stamp = request.app.state.dashboard_power_stamp
    feed: LiveFeed = request.app.state.dashboard_feed  # its close ends this stream too

    async def stream() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        known = await asyncio.to_thread(stamp, site_id)
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        while loop.time() < ends and not feed.closed:
            await asyncio.sleep(WATCH_SECONDS)
            now = await asyncio.to_thread(stamp, site_id)
            if now != known:
                known = now
                yield "event: power\ndata: {}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


async def _allocations(request: Request, site_id: str) -> list[dict[str, Any]]:
    since = (datetime.now(UTC) - HISTORY).isoformat()
    params: dict[str, Any] = {"type": ALLOCATION, "start_date": since, "limit": 1000}
    payloads = []
    for _ in range(HISTORY_PAGES):
        answer = await event_store_call(request, "GET", "/events", params=params)
        payloads += [e["payload"] for e in answer.json()
                     if (e.get("payload") or {}).get("site_id") == site_id]
        after = (parse_qs(urlparse(answer.links["next"]["url"]).query).get("after", [""])[0]
                 if "next" in answer.links else "")
        if not after:
            break
        params = {**params, "after": after}
    return payloads


def _history_chart(fmt: Formatter, model: dict[str, Any], allocations: list[dict[str, Any]],
                   zone: str, no_data: str = "") -> bytes:
    end = datetime.now(UTC)
    if no_data:
        return charts.svg([], end, fmt.gettext("Allocations, last 24 hours (most loaded phase)"),
                          fmt, zone, HISTORY, no_data)
    points = power_view.history(model, allocations)
    allocated, building = _steps(points, end, "allocated_a"), _steps(points, end, "building_a")
    usable = float(model["limit_a"]) * (1.0 - float(model.get("margin") or 0.0))
    return charts.svg([
        charts.Series(fmt.gettext("Allocated to the chargers"), "A", "#0b5cad", allocated),
        charts.Series(fmt.gettext("Building"), "A", "#5f6670", building),
        charts.Series(fmt.gettext("Usable limit"), "A", "#a4121c",
                      [(end - HISTORY, usable), (end, usable)])],
        end, fmt.gettext("Allocations, last 24 hours (most loaded phase)"), fmt, zone, HISTORY)


def _steps(points: list[power_view.HistoryPoint], end: datetime,
           name: str) -> list[tuple[datetime, float]]:
    """A step line: each value holds until the next allocation (and the last one until now)."""
    steps: list[tuple[datetime, float]] = []
    for point in points:
        value = float(getattr(point, name))
        if steps:
            steps.append((point.at, steps[-1][1]))
        steps.append((point.at, value))
    if steps:
        steps.append((end, steps[-1][1]))
    return steps
