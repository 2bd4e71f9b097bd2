"""Rendering a dashboard page: the template, the user's language, security headers."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from save_server.domain.access import Permission, Principal
from save_server.infrastructure.dashboard import error_texts
from save_server.infrastructure.dashboard.i18n import LANGUAGE_COOKIE, Formatter, choose_language
from save_server.infrastructure.dashboard.session import CSRF_FIELD, csrf_token

# No inline script or style anywhere: the dashboard's own JS and CSS files only.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

_environment = Environment(loader=PackageLoader(__package__, "templates"),
                           autoescape=select_autoescape(default=True, default_for_string=True),
                           trim_blocks=True,
                           lstrip_blocks=True)
templates = Jinja2Templates(env=_environment)
STATIC_DIR = str(resources.files(__package__).joinpath("static"))


# Values shown to people (states, commands, outcomes…) and their English wording; the
# catalogs translate the wording.
LABELS = {
    "in_use": "in use", "call_error": "charger error", "not_connected": "not connected",
    "remote-start": "Start charge", "remote-stop": "Stop charge", "reset": "Reset",
    "unlock-connector": "Unlock connector", "change-availability": "Change availability",
    "trigger-message": "Trigger message", "clear-cache": "Clear cache",
    "current_offered": "current offered", "current_imported": "current",
    "energy_register": "energy register", "soc": "state of charge",
    # dashlive: sites, load management and live station pages
    "profile_refused": "charging profile refused", "uncontrolled": "uncontrolled",
    "single-phase": "single-phase", "three-phase": "three-phase",
}


def label(value: str) -> str:
    return LABELS.get(value, value)


def language(request: Request) -> str:
    return choose_language(request.cookies.get(LANGUAGE_COOKIE),
                           request.headers.get("accept-language"))


def render(request: Request, template: str, status_code: int = 200,
           **context: Any) -> Response:
    fmt = Formatter(language(request))
    principal: Principal | None = getattr(request.state, "principal", None)
    response = templates.TemplateResponse(request, template, status_code=status_code, context={
        "_": fmt.gettext, "t": lambda value: fmt.gettext(label(str(value))), "fmt": fmt,
        "lang": fmt.language, "principal": principal,
        "err": lambda message: error_texts.translate(str(message), fmt.gettext),
        "can": (lambda p: principal is not None and principal.can(Permission(p))),
        "csrf_token": csrf_token(request), "csrf_field": CSRF_FIELD, **context})
    return response


