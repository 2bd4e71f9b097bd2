from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.platform import Platform, base_env, embedded_platform, services_platform

REAL_SERVERS = {"RabbitMQ": ("127.0.0.1", 5672), "PostgreSQL": ("127.0.0.1", 5432)}


def _require_real_servers() -> None:
    for name, address in REAL_SERVERS.items():
        try:
            socket.create_connection(address, timeout=2).close()
        except OSError:
            message = f"{name} is not reachable at {address[0]}:{address[1]}"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{message} (CI=true: a missing server is a failure)")
            pytest.skip(message)


@contextlib.contextmanager
def platform_of(mode: str, tmp: Path, settings: dict[str, str] | None = None
                ) -> Iterator[Platform]:
    """The platform of that mode, with `settings` over the e2e environment's."""
    if mode == "embedded":
        with embedded_platform(tmp, base_env(tmp) | (settings or {})) as running:
            yield running
    else:
        _require_real_servers()
        with services_platform(tmp, settings) as running:
            yield running


@pytest.fixture(scope="module", params=["embedded", "services"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Platform]:
    with platform_of(request.param, tmp_path_factory.mktemp(f"platform-{request.param}")
                     ) as running:
        yield running
