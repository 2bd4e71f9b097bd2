"""One save-server API for the benchmarks of this folder:
`python bench/accounts/serve.py PORT on|off|no-outbox`.

`on` is the API as shipped. `off` is the same app with every permission dependency overridden
by a function returning an admin (no header parsing, no key check): the auth baseline.
`no-outbox`: as shipped, but writes commit without their business event and its
processed-event record (the outbox baseline)."""

from __future__ import annotations

import os
import sys

import uvicorn
from fastapi.routing import APIRoute

from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.domain.access import Principal, Role
from save_server.infrastructure.api.security import api_routes


def without_auth(app) -> None:
    admin = Principal("bench", "bench@localhost", Role.ADMIN, None, "bench")

    async def anyone() -> Principal:
        return admin

    for route in api_routes(app):
        assert isinstance(route, APIRoute)
        pending = list(route.dependant.dependencies)
        while pending:
            dependant = pending.pop()
            if getattr(dependant.call, "required_permissions", None) is not None:
                app.dependency_overrides[dependant.call] = anyone
            pending.extend(dependant.dependencies)


def without_outbox() -> None:
    from save_server.infrastructure.accounts import store as accounts_store
    from save_server.infrastructure.commands import repository as commands_repository
    from save_server.infrastructure.db import uow
    from save_server.infrastructure.registry import store as registry_store
    from save_server.infrastructure.reports import repositories

    for module in (uow, repositories, accounts_store, registry_store, commands_repository):
        module.add_to_outbox = lambda *_: None  # type: ignore[attr-defined]


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    container = bootstrap(Settings(database_url=os.environ["DATABASE_URL"]))
    app = container.app()
    if mode == "off":
        without_auth(app)
    if mode == "no-outbox":
        without_outbox()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
