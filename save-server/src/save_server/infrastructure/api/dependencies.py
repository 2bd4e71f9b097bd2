"""What the routers need, taken from app.state (set by the app factory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from save_server.domain.ports import ChargeReader, StationReader, UnitOfWork
from save_server.service.accounts import AccountService
from save_server.service.authentication import Authenticator
from save_server.service.registry import RegistryService
from save_server.service.sign_in import SignIn


@dataclass(frozen=True)
class ApiDependencies:
    station_reader: StationReader
    charge_reader: ChargeReader
    uow_factory: Callable[[], UnitOfWork]
    ready: Callable[[], dict[str, bool]]  # readiness: component → reachable


@dataclass(frozen=True)
class AccessControl:
    """Who is calling (authenticator); the account use cases behind /auth, /accounts; the
    sites and station registry behind /sites and /charging-stations registration."""

    authenticator: Authenticator
    accounts: AccountService
    sign_in: SignIn
    registry: RegistryService


def _dependencies(request: Request) -> ApiDependencies:
    return request.app.state.dependencies  # type: ignore[no-any-return]


Deps = Annotated[ApiDependencies, Depends(_dependencies)]
