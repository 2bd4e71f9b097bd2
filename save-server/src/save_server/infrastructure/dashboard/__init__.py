"""The staff dashboard: server-rendered pages on the API's app, same accounts and permissions.

`install(app, ...)` adds the pages (`/ui/...`, `/` redirects there), the static files
(`/ui/static`), the error pages and the security headers. Every page declares its permission
with `session.page(...)`, which the app's route check sees like the API's `allow(...)`; the
public ones are listed in `PUBLIC_PAGES`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from save_server.infrastructure.dashboard import (
    accounts_page,
    charges_page,
    events_page,
    id_tag_csv_page,
    id_tags_page,
    pages,
    registry_page,
    reports_page,
    sites_page,
    station_page,
)
from save_server.infrastructure.dashboard.idle import is_background
from save_server.infrastructure.dashboard.live import LiveFeed
from save_server.infrastructure.dashboard.load_view import PowerDocuments
from save_server.infrastructure.dashboard.rendering import (
    SECURITY_HEADERS,
    STATIC_DIR,
    render,
)
from save_server.infrastructure.dashboard.session import (
    PageError,
    Sessions,
    SignInRequired,
    ensure_csrf_cookie,
)
from save_server.infrastructure.dashboard.station_live import StatusHistory

PUBLIC_PAGES = pages.PUBLIC_PAGES
ROUTERS = (pages.router, station_page.router, charges_page.router, reports_page.router,
            registry_page.router, events_page.router, sites_page.router,
            # dashadmin: id tags, accounts and API keys
            id_tag_csv_page.router, id_tags_page.router, accounts_page.router)


def is_dashboard_path(path: str) -> bool:
    return path == "/" or path.startswith("/ui/") or path == "/ui"


@dataclass(frozen=True)
class DashboardParts:
    """What the composition root gives the dashboard besides the API's own services."""

    sessions: Sessions
    feed: LiveFeed
    event_store_url: str | None = None  # the events pages call the event-store's API
    power: PowerDocuments = dict  # the load manager's power document per site
    power_stamp: Callable[[str], Any] = lambda site_id: None  # when it was last written
    status_history: StatusHistory = lambda station_id, limit: []  # connectors' state changes


def install(app: FastAPI, parts: DashboardParts) -> None:
    sessions, feed = parts.sessions, parts.feed
    app.state.dashboard_sessions = sessions
    app.state.dashboard_feed = feed
    app.state.event_store_url = parts.event_store_url
    app.state.dashboard_power = parts.power
    app.state.dashboard_power_stamp = parts.power_stamp
    app.state.dashboard_status_history = parts.status_history
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    app.router.add_event_handler("shutdown", feed.close)

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, _: SignInRequired) -> Response:
        if request.method != "GET" or is_background(request.url.path):
            return Response("sign in first", status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"/ui/sign-in?next={quote(target)}", 303)
        sessions.policy.clear(request, response)
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> Response:
        """A page's bad query parameter answers a page; the API keeps FastAPI's JSON."""
        if not is_dashboard_path(request.url.path):
            return await request_validation_exception_handler(request, error)
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors())
        return render(request, "error.html", status_code=400, status=400,
                      message=f"bad value: {fields}")

    @app.exception_handler(PageError)
    async def error_page(request: Request, error: PageError) -> Response:
        return render(request, "error.html", status_code=error.status, message=str(error),
                      status=error.status)

    @app.middleware("http")
    async def dashboard_headers(request: Request,
                                call_next: Callable[[Request], Awaitable[Response]]
                                ) -> Response:
        response = await call_next(request)
        if is_dashboard_path(request.url.path):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if not getattr(request.state, "signed_out", False) and hasattr(
                    request.state, "principal"):
                sessions.keep(request, response)
            ensure_csrf_cookie(request, response, sessions.policy)
        return response
