"""One save-server API for the auth benchmark: `python bench/accounts/serve.py PORT on|off`.

`on` is the API as shipped. `off` is the same app with every permission dependency overridden
by a function returning an admin (no header parsing, no key check): the baseline."""

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


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    container = bootstrap(Settings(database_url=os.environ["DATABASE_URL"]))
    app = container.app()
    if mode == "off":
        without_auth(app)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
