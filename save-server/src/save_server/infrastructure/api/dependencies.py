"""What the routers need, taken from app.state (set by the app factory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from save_server.domain.ports import ChargeReader, StationReader, UnitOfWork


@dataclass(frozen=True)
class ApiDependencies:
    station_reader: StationReader
    charge_reader: ChargeReader
    uow_factory: Callable[[], UnitOfWork]
    ready: Callable[[], dict[str, bool]]  # readiness: component → reachable


def _dependencies(request: Request) -> ApiDependencies:
    return request.app.state.dependencies  # type: ignore[no-any-return]


Deps = Annotated[ApiDependencies, Depends(_dependencies)]
