"""422 answers in FastAPI's own shape, naming the offending parameter."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

# Row ids are 64-bit: a larger number in a path or query is a 422, never a database overflow.
ROW_ID_MIN, ROW_ID_MAX = -(2**63), 2**63 - 1
RowId = Annotated[int, Path(ge=ROW_ID_MIN, le=ROW_ID_MAX)]
RowIdQuery = Annotated[int | None, Query(ge=ROW_ID_MIN, le=ROW_ID_MAX)]


def invalid(location: str, name: str, message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=[
        {"loc": [location, name], "msg": message, "type": "value_error"}])


def refuse_nul_characters(app: FastAPI) -> None:
    """PostgreSQL stores no NUL character: its driver refuses one in any parameter. Such an
    input is the caller's error (422), not the server's."""

    @app.exception_handler(ValueError)
    async def nul_is_invalid(request: Request, error: ValueError) -> JSONResponse:
        if "NUL" not in str(error):
            raise error
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": ["request"], "msg": "NUL characters (\\u0000) are not allowed",
             "type": "value_error"}]})
