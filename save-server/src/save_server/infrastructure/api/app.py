"""The FastAPI app factory: one router per resource, dependencies injected via app.state."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from save_server.domain.local_lists import LocalListStore
from save_server.infrastructure import metrics
from save_server.infrastructure.accounts import api as accounts_api
from save_server.infrastructure.api.dependencies import AccessControl, ApiDependencies
from save_server.infrastructure.api.errors import RefuseNulInUrl, refuse_nul_characters
from save_server.infrastructure.api.routers import charges, operations, stations
from save_server.infrastructure.api.security import (
    PUBLIC_PATHS,
    check_every_route_protected,
    document_access_errors,
)
from save_server.infrastructure.commands import api as commands_api
from save_server.infrastructure.dashboard import PUBLIC_PAGES, DashboardParts
from save_server.infrastructure.dashboard import install as install_dashboard
from save_server.infrastructure.id_tags import api as id_tags_api
from save_server.infrastructure.load import api as load_api
from save_server.infrastructure.load.context import LoadContext
from save_server.infrastructure.local_lists import api as local_lists_api
from save_server.infrastructure.registry import api as registry_api
from save_server.infrastructure.reports import api as reports_api
from save_server.service.id_tags import IdTagService
from save_server.service.reports import ReportService
from save_server.service.station_commands import StationCommands

# the registry's fixed /charging-stations/... paths first: they must win over {station_id}
ROUTERS = (registry_api.router, stations.router, charges.router, operations.router,
           accounts_api.router)


def create_app(dependencies: ApiDependencies, access: AccessControl,
               reports: ReportService | None = None,
               commands: StationCommands | None = None,
               id_tags: IdTagService | None = None,
               dashboard: DashboardParts | None = None,
               local_lists: LocalListStore | None = None,
               load: LoadContext | None = None) -> FastAPI:
    app = FastAPI(title="save-server", version="0.1.0",
                  description="Charging stations, connectors and charge history of SAVE's "
                              "charging network. Every endpoint but the probes and sign-in "
                              "needs `Authorization: Bearer <API key or access token>`.")
    app.state.dependencies = dependencies
    app.state.authenticator = access.authenticator
    app.state.accounts = access.accounts
    app.state.sign_in = access.sign_in
    app.state.registry = access.registry
    for router in ROUTERS:
        app.include_router(router)
    if reports is not None:  # charge reports by e-mail (infrastructure/reports)
        app.state.reports = reports
        app.include_router(reports_api.router)
    if commands is not None:  # remote commands (infrastructure/commands, docs/commands.md)
        app.state.station_commands = commands
        app.include_router(commands_api.router)
        # History rows are written just after the answer: don't lose them on shutdown.
        app.router.add_event_handler("shutdown", commands.flush)
    if id_tags is not None:  # id tags (infrastructure/id_tags)
        app.state.id_tags = id_tags
        app.include_router(id_tags_api.router)
    if local_lists is not None:  # stations' local lists (infrastructure/local_lists)
        app.state.local_lists = local_lists
        app.include_router(local_lists_api.router)
    if load is not None:  # site load management (infrastructure/load, docs/load-management.md)
        app.state.load = load
        app.state.load_management = load.management
        app.state.load_allocation = load.allocation
        app.include_router(load_api.router)
        app.router.add_event_handler("startup", load.start)
        app.router.add_event_handler("shutdown", load.stop)

    if dashboard is not None:  # the staff dashboard (infrastructure/dashboard): /ui/...
        install_dashboard(app, dashboard)
    # the dashboard's public pages: the sign-in form, `/` (a redirect), the language switch
    check_every_route_protected(app, PUBLIC_PATHS | PUBLIC_PAGES)
    document_access_errors(app)
    refuse_nul_characters(app)
    app.add_middleware(RefuseNulInUrl)

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
