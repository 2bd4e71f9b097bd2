"""Real servers for integration tests: a fresh PostgreSQL database and unique RabbitMQ names
per run, deleted afterwards. A missing server skips, or fails under CI=true."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.infrastructure.db.engine import migrate

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL",
                                    "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a missing server is a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own for this test run, migrated to head, dropped at the end."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"save_server_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as db:
            db.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        admin.dispose()
        missing(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as db:
            db.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'save-server.sqlite3'}"
    migrate(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def container(database_url: str, tmp_path: Path) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, data_dir=tmp_path))
    yield built
    built.close()


@dataclass(frozen=True)
class RabbitNames:
    url: str
    exchange: str
    queue: str

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dead-letter"


@pytest.fixture
def rabbit() -> Iterator[RabbitNames]:
    """Unique exchange and queue names; every object declared under them is deleted after."""
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except Exception as error:
        missing(f"RabbitMQ is not reachable at {AMQP_URL}: {error}")
    suffix = uuid.uuid4().hex[:10]
    names = RabbitNames(AMQP_URL, f"test-ocpp-events-{suffix}", f"test-save-server-{suffix}")
    connection.close()
    yield names
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for queue in (names.queue, names.dead_letter_queue):
        channel.queue_delete(queue)
    for exchange in (names.exchange, f"{names.exchange}.dead-letter"):
        channel.exchange_delete(exchange)
    connection.close()


Publish = Callable[[str, bytes], None]
