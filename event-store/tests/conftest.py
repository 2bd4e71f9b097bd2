"""Shared fixtures of the event-store tests: envelopes, SQLite storage, real RabbitMQ."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from event_store.domain.events import StoredEvent, parse_event
from event_store.infrastructure.sqlite_storage import SqliteEventStorage

RABBITMQ_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

EventFactory = Callable[..., StoredEvent]


def _envelope(station: str = "CP-1", event_type: str = "ocpp-events.heart-beat",
              received_at: datetime | str = "2026-11-25T12:00:00.000000Z",
              event_id: str | None = None, payload: dict | None = None) -> bytes:
    if isinstance(received_at, datetime):
        received_at = received_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    action = "".join(part.title() for part in event_type.split(".")[-1].split("-"))
    return json.dumps({
        "event_id": event_id or str(uuid.uuid4()), "type": event_type, "schema_version": 1,
        "charging_station_id": station, "ocpp_version": "1.6",
        "connection_id": str(uuid.uuid4()), "message_id": uuid.uuid4().hex[:12],
        "action": action, "received_at": received_at, "payload": payload or {},
        "response": {}, "gateway_extra_field": "kept as received",
    }).encode()


@pytest.fixture
def envelope() -> Callable[..., bytes]:
    """Factory of raw envelopes (bytes) as the gateway publishes them."""
    return _envelope


@pytest.fixture
def make_event() -> EventFactory:
    """Factory of parsed events: make_event(station=..., event_type=..., received_at=...)."""
    return lambda **fields: parse_event(_envelope(**fields))


@pytest.fixture
def station_id() -> str:
    return f"CP-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def sqlite_storage(tmp_path) -> Iterator[SqliteEventStorage]:
    storage = SqliteEventStorage(tmp_path / "event-store.sqlite3")
    yield storage
    storage.close()


def _server_missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def rabbitmq() -> Iterator[dict[str, str]]:
    """Unique exchange and queue names on the real RabbitMQ, deleted at teardown."""
    pika = pytest.importorskip("pika")
    try:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    except Exception as error:
        _server_missing(f"RabbitMQ not reachable at {RABBITMQ_URL}: {error!r}")
    suffix = uuid.uuid4().hex[:10]
    names = {"url": RABBITMQ_URL, "exchange": f"test-es-exchange-{suffix}",
             "queue": f"test-es-{suffix}", "dead_letter_queue": f"test-es-{suffix}.dead-letter",
             "target_queue": f"test-es-target-{suffix}"}
    channel = connection.channel()
    channel.exchange_declare(names["exchange"], exchange_type="topic", durable=True)
    yield names
    channel = connection.channel() if not channel.is_open else channel
    for queue in (names["queue"], names["dead_letter_queue"], names["target_queue"]):
        channel.queue_delete(queue)
    channel.exchange_delete(names["exchange"])
    connection.close()


def _account_events(role: str = "admin", enabled: bool = True) -> tuple[list[bytes], str]:
    """What save-server publishes when it creates an account and an API key for it (the
    `accounts.*` events, docs/events.md), and that key."""
    import hashlib
    import secrets

    account_id, key_id = str(uuid.uuid4()), secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    def event(kind: str, payload: dict) -> bytes:
        return json.dumps({"event_id": str(uuid.uuid4()), "type": f"accounts.{kind}",
                           "schema_version": 1, "charging_station_id": None,
                           "received_at": now, "principal": "test", "payload": payload}).encode()

    return [event("account-created", {"account_id": account_id, "email": f"{role}@test",
                                      "role": role, "enabled": enabled,
                                      "password_hash": None}),
            event("api-key-created", {"key_id": key_id, "account_id": account_id,
                                      "role": role, "expires_at": None, "revoked_at": None,
                                      "secret_hash": hashlib.sha256(secret.encode()).hexdigest()})
            ], f"csk_{key_id}_{secret}"


@pytest.fixture
def authorize() -> Callable[..., dict[str, str]]:
    """`authorize(app, role="admin")`: teaches the app's credential copy a new account and key
    (as if their events had been stored) and returns headers carrying that key."""

    def teach(app, role: str = "admin") -> dict[str, str]:
        bodies, key = _account_events(role)
        for body in bodies:
            envelope = json.loads(body)
            app.state.authenticator.copy.apply(envelope["type"], envelope["payload"])
        return {"Authorization": f"Bearer {key}"}

    return teach


@pytest.fixture
def account_events() -> Callable[..., tuple[list[bytes], str]]:
    """`account_events(role="admin")` → (the account events' bodies, the API key)."""
    return _account_events
