"""422 answers in FastAPI's own shape, naming the offending parameter."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Query

# Row ids are 64-bit: a larger number in a path or query is a 422, never a database overflow.
ROW_ID_MIN, ROW_ID_MAX = -(2**63), 2**63 - 1
RowId = Annotated[int, Path(ge=ROW_ID_MIN, le=ROW_ID_MAX)]
RowIdQuery = Annotated[int | None, Query(ge=ROW_ID_MIN, le=ROW_ID_MAX)]


def invalid(location: str, name: str, message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=[
        {"loc": [location, name], "msg": message, "type": "value_error"}])
