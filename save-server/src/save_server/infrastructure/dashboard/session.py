"""The dashboard's cookie session, built on the API's own sign-in machinery.

Signing in calls the same `SignIn.login` as `POST /auth/login`: the access token and the
rotating refresh token are kept in `HttpOnly`, `SameSite=Strict` cookies (`Secure` over TLS).
Each request authenticates the access token with the API's `Authenticator`; an expired one is
renewed with the refresh token (`SignIn.refresh`, as `POST /auth/refresh`). Idle timeout: the
cookies' `Max-Age` is renewed on every page; after `idle_seconds` without one the browser drops
them, and the server refuses them anyway (`idle.ActivityStamps`); the sign-in session ends at
its absolute expiry (`AUTH_REFRESH_TOKEN_SECONDS`).

CSRF: a random token in its own cookie must come back, in a form field or the `X-CSRF-Token`
header, on every state-changing request (double submit), and the `Origin`, when sent, must be
this host (SameSite=Strict already keeps other sites' requests cookie-less).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from save_server.domain.access import Permission, Principal
from save_server.infrastructure.dashboard.idle import (
    ACTIVITY_COOKIE,
    ActivityStamps,
    is_background,
    session_of,
)
from save_server.service.authentication import Authenticator, Unauthenticated
from save_server.service.sign_in import SignIn, SignInFailed, Tokens

ACCESS_COOKIE = "csms_access"
REFRESH_COOKIE = "csms_refresh"
CSRF_COOKIE = "csms_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
DEFAULT_IDLE_SECONDS = 30 * 60
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(Exception):
    """No session, or one that can no longer be renewed: go to the sign-in page."""


class PageError(Exception):
    """An answer the dashboard shows as a page: 403, 404, 400 (bad CSRF)…"""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class CookiePolicy:
    idle_seconds: int = DEFAULT_IDLE_SECONDS

    def secure(self, request: Request) -> bool:
        return request.url.scheme == "https"

    def set(self, request: Request, response: Response, name: str, value: str,
            http_only: bool = True) -> None:
        response.set_cookie(name, value, max_age=self.idle_seconds, path="/",
                            httponly=http_only, samesite="strict", secure=self.secure(request))

    def clear(self, request: Request, response: Response) -> None:
        for name in (ACCESS_COOKIE, REFRESH_COOKIE, ACTIVITY_COOKIE):
            response.delete_cookie(name, path="/", httponly=True, samesite="strict",
                                   secure=self.secure(request))


class Sessions:
    """Who the browser is; renewing and ending its session."""

    def __init__(self, authenticator: Authenticator, sign_in: SignIn,
                 policy: CookiePolicy | None = None,
                 stamps: ActivityStamps | None = None) -> None:
        self._authenticator, self._sign_in = authenticator, sign_in
        self.policy = policy or CookiePolicy()
        self.stamps = stamps  # None: the idle timeout is left to the cookies' expiry

    async def principal(self, request: Request) -> Principal:
        principal = await self._authenticated(request)
        session_id = session_of(principal.credential)
        if self.stamps is not None and session_id is not None and not self.stamps.active(
                request.cookies.get(ACTIVITY_COOKIE), session_id):
            await asyncio.to_thread(self._sign_in.logout, session_id, principal.audit_name)
            raise SignInRequired()
        return principal

    async def _authenticated(self, request: Request) -> Principal:
        access = request.cookies.get(ACCESS_COOKIE)
        if access:
            try:
                return self._authenticator.authenticate(access)
            except Unauthenticated:
                pass
        refresh = request.cookies.get(REFRESH_COOKIE)
        if not refresh:
            raise SignInRequired()
        try:
            tokens = await asyncio.to_thread(self._sign_in.refresh, refresh)
            principal = self._authenticator.authenticate(tokens.access_token)
        except (SignInFailed, Unauthenticated) as error:
            raise SignInRequired() from error
        request.state.renewed_tokens = tokens  # written by `renew_cookies` on the way out
        return principal

    async def sign_in(self, email: str, password: str, client: str) -> Tokens:
        return await asyncio.to_thread(self._sign_in.login, email, password, client)

    async def sign_out(self, principal: Principal) -> None:
        kind, _, session_id = principal.credential.partition(":")
        if kind == "session":
            await asyncio.to_thread(self._sign_in.logout, session_id, principal.audit_name)

    def keep(self, request: Request, response: Response, tokens: Tokens | None = None) -> None:
        """Set (new tokens) or renew (sliding idle timeout) the session cookies."""
        signing_in = tokens is not None
        tokens = tokens or getattr(request.state, "renewed_tokens", None)
        access = tokens.access_token if tokens else request.cookies.get(ACCESS_COOKIE)
        refresh = tokens.refresh_token if tokens else request.cookies.get(REFRESH_COOKIE)
        if access and refresh:
            self.policy.set(request, response, ACCESS_COOKIE, access)
            self.policy.set(request, response, REFRESH_COOKIE, refresh)
            session_id = refresh.partition(".")[0]
            if self.stamps is not None and (signing_in or not is_background(
                    request.url.path)):
                self.policy.set(request, response, ACTIVITY_COOKIE,
                                self.stamps.stamp(session_id))


def csrf_token(request: Request) -> str:
    """The browser's CSRF token (made on its first page; `ensure_csrf_cookie` stores it)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def ensure_csrf_cookie(request: Request, response: Response, policy: CookiePolicy) -> None:
    new = getattr(request.state, "new_csrf", None)
    if new and not request.cookies.get(CSRF_COOKIE):
        policy.set(request, response, CSRF_COOKIE, new)


async def check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise PageError(403, "cross-site request refused")
    expected = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and "form" in request.headers.get("content-type", ""):
        sent = str((await request.form()).get(CSRF_FIELD) or "")
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise PageError(400, "missing or wrong CSRF token: reload the page and try again")


def page(*permissions: Permission) -> Any:
    """The dashboard's `allow`: the signed-in caller, who must hold every permission; checks
    the CSRF token of state-changing requests. Marked like `allow` so that the app's
    route check sees the permission."""

    async def caller(request: Request) -> Principal:
        sessions: Sessions = request.app.state.dashboard_sessions
        principal = await sessions.principal(request)
        request.state.principal = principal
        missing = [p.value for p in permissions if not principal.can(p)]
        if missing:
            raise PageError(403, f"your role ({principal.role.value}) lacks {', '.join(missing)}")
        await check_csrf(request)
        return principal

    caller.required_permissions = tuple(permissions) or ("authenticated",)  # type: ignore
    return caller
