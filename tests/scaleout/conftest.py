from __future__ import annotations

import os
import socket

import pytest

REAL_SERVERS = {"RabbitMQ": ("127.0.0.1", 5672), "PostgreSQL": ("127.0.0.1", 5432)}


@pytest.fixture(scope="module", autouse=True)
def _real_servers() -> None:
    for name, address in REAL_SERVERS.items():
        try:
            socket.create_connection(address, timeout=2).close()
        except OSError:
            message = f"{name} is not reachable at {address[0]}:{address[1]}"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{message} (CI=true: a missing server is a failure)")
            pytest.skip(message)
