"""422 answers in FastAPI's own shape, naming the offending parameter."""

from __future__ import annotations

from fastapi import HTTPException


def invalid(location: str, name: str, message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=[
        {"loc": [location, name], "msg": message, "type": "value_error"}])
