"""Pages that call their API's own route functions (same service, same scope and permission
checks: a page cannot show or do what its API refuses) and show a refusal as a message."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException
from pydantic import ValidationError

T = TypeVar("T")


class Refused(Exception):
    """The API refused (4xx): `status` and its message, to show on the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def refusal_text(detail: Any) -> str:
    """An `HTTPException.detail` (a text, or FastAPI's list of `{loc, msg}`) as one line."""
    if isinstance(detail, list):
        return "; ".join(f"{e['loc'][-1]}: {e['msg']}" if e.get("loc") else str(e.get("msg"))
                         for e in detail)
    return str(detail)


def invalid_form(error: ValidationError) -> Refused:
    return Refused(422, "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}"
                                  for e in error.errors(include_url=False)))


async def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run an API route function in a thread; its `HTTPException` becomes `Refused`."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except HTTPException as error:
        raise Refused(error.status_code, refusal_text(error.detail)) from error


async def sites(request: Any) -> list[Any]:
    """Every site (the forms' choices for a tag's or an account's scope: only unscoped
    writers and admins get those forms)."""
    return await asyncio.to_thread(request.app.state.registry.list_sites)
