"""Every route but the probes needs a bearer credential (401) and the right role (403)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from event_store.domain.access import Caller, Permission
from event_store.service.authentication import Authenticator, Unauthenticated

bearer = HTTPBearer(auto_error=False, description="save-server API key or access token")
PUBLIC_PATHS = frozenset({"/health", "/ready", "/metrics"})


def allow(permission: Permission) -> Any:
    async def caller(request: Request, credentials: Annotated[
            HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
        if credentials is None:
            raise HTTPException(401, "missing credential: send Authorization: Bearer <API key "
                                     "or access token>", headers={"WWW-Authenticate": "Bearer"})
        authenticator: Authenticator = request.app.state.authenticator
        try:
            found = authenticator.authenticate(credentials.credentials)
        except Unauthenticated as error:
            raise HTTPException(401, str(error), headers={
                "WWW-Authenticate": 'Bearer error="invalid_token"'}) from error
        if not found.can(permission):
            raise HTTPException(403, f"your role ({found.role}) lacks {permission.value}")
        return found

    caller.required_permission = permission  # type: ignore[attr-defined]
    return Depends(caller)


def _guarded(route: APIRoute) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if getattr(dependant.call, "required_permission", None) is not None:
            return True
        pending.extend(dependant.dependencies)
    return False


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


def check_every_route_protected(app: FastAPI) -> None:
    unguarded = [f"{sorted(r.methods)} {r.path}" for r in api_routes(app)
                 if r.path not in PUBLIC_PATHS and not _guarded(r)]
    if unguarded:
        raise RuntimeError(f"routes without a permission: {unguarded}")


Reader = Annotated[Caller, allow(Permission.EVENTS_READ)]
Replayer = Annotated[Caller, allow(Permission.EVENTS_REPLAY)]
