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


def check_every_route_protected(app: FastAPI) -> None:
    unguarded = [f"{sorted(r.methods)} {r.path}" for r in api_routes(app)
                 if r.path not in PUBLIC_PATHS and not _guarded(r)]
    if unguarded:
        raise RuntimeError(f"routes without a permission: {unguarded}")


Reader = Annotated[Caller, allow(Permission.EVENTS_READ)]
Replayer = Annotated[Caller, allow(Permission.EVENTS_REPLAY)]
