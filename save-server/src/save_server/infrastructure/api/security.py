"""Every route states the permission it needs; `create_app` refuses a route that states none.

`allow(permission)` authenticates the bearer credential (API key or access token) against the
authenticator's local copy and answers 401 (no, bad, expired or revoked credential; with
`WWW-Authenticate`) or 403 (a known caller without the permission).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from save_server.domain.access import Permission, Principal
from save_server.service.authentication import (
    Authenticator,
    CredentialsUnavailable,
    Unauthenticated,
)

bearer = HTTPBearer(auto_error=False, description="An API key (`csk_…`) or an access token "
                                                  "from POST /auth/login")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

# Reachable without a credential: probes, metrics (no business data: see docs/api.md), the
# OpenAPI documents, and the sign-in endpoints themselves.
PUBLIC_PATHS = frozenset({"/health", "/ready", "/metrics", "/auth/login", "/auth/refresh"})
AUTHENTICATED_ONLY = "authenticated"  # marker: any valid credential, no particular permission


def unauthorized(message: str, error: str = "invalid_token") -> HTTPException:
    return HTTPException(401, message, headers={
        "WWW-Authenticate": f'Bearer error="{error}", error_description="{message}"'})


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None
                 ) -> Principal:
    if credentials is None:
        raise HTTPException(401, "missing credential: send Authorization: Bearer <API key or "
                                 "access token>", headers={"WWW-Authenticate": "Bearer"})
    authenticator: Authenticator = request.app.state.authenticator
    try:
        return authenticator.authenticate(credentials.credentials)
    except Unauthenticated as error:
        raise unauthorized(str(error)) from error
    except CredentialsUnavailable as error:
        raise HTTPException(503, "credentials cannot be checked now (database unreachable)"
                            ) from error


def allow(*permissions: Permission) -> Any:
    """A dependency giving the caller, who must hold every one of `permissions`."""

    async def caller(request: Request, credentials: Bearer) -> Principal:
        principal = authenticate(request, credentials)
        missing = [p.value for p in permissions if not principal.can(p)]
        if missing:
            raise HTTPException(403, f"your role ({principal.role.value}) lacks "
                                     f"{', '.join(missing)}")
        return principal

    caller.required_permissions = tuple(permissions) or (AUTHENTICATED_ONLY,)  # type: ignore
    return Depends(caller)


def requirements(route: APIRoute) -> tuple[Any, ...] | None:
    """The permissions a route's dependencies demand, or None when it demands none."""
    for dependant in _walk(route.dependant.dependencies):
        found = getattr(dependant.call, "required_permissions", None)
        if found is not None:
            return tuple(found)
    return None


def _walk(dependants: Iterable[Any]) -> Iterable[Any]:
    for dependant in dependants:
        yield dependant
        yield from _walk(dependant.dependencies)


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route, also those of included routers (FastAPI keeps those nested)."""
    return [context.original_route for context in iter_route_contexts(app.routes)
            if isinstance(context.original_route, APIRoute)]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No credential, or a bad, expired or revoked one "
                         "(`WWW-Authenticate: Bearer`)"},
    403: {"description": "Your role lacks the permission this needs"},
}


def document_access_errors(app: FastAPI) -> None:
    """Every protected operation answers 401 and 403 too: say so in the OpenAPI document
    (added to the generated document: FastAPI copies a route's responses when a router is
    included, so changing the route afterwards would not show)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for path, operations in document.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in ERROR_RESPONSES.items():
                    if path not in PUBLIC_PATHS:
                        responses.setdefault(str(status), description)
                if "requestBody" in operation:
                    responses.setdefault("400", {"description": "The body is not JSON"})
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def check_every_route_protected(app: FastAPI, public: Iterable[str] = PUBLIC_PATHS) -> None:
    """Fail at start-up (and so in every test) when a route forgot its permission."""
    open_routes = [f"{sorted(r.methods)} {r.path}" for r in api_routes(app)
                   if r.path not in public
                   and requirements(r) is None]
    if open_routes:
        raise RuntimeError(f"routes without a permission: {open_routes}")

