"""Business events go out through the outbox: committed with their change, relayed to the
broker with publisher confirms, each exactly once in effect, none for a rolled-back change."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pika
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.domain.ports import EventPublisher, OutgoingEvent
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.outbox.publishers import RabbitEventPublisher
from save_server.infrastructure.outbox.relay import OutboxRelay
from save_server.infrastructure.outbox.tables import outbox_events
from tests.support.api_keys import grant
from tests.support.schemas import business_event_validator

pytestmark = pytest.mark.integration


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}@save.example"


def outbox(container: Container) -> list[dict[str, Any]]:
    with container.engine.connect() as db:
        rows = db.execute(select(outbox_events).order_by(outbox_events.c.seq)).mappings()
        return [{**json.loads(r["body"]), "published_at": r["published_at"], "seq": r["seq"]}
                for r in rows]


def test_account_and_report_changes_are_events_naming_who_made_them(
        container: Container) -> None:
    admin = TestClient(container.app(), headers=grant(container))
    me = admin.get("/auth/me").json()["email"]
    before = len(outbox(container))
    account = admin.post("/accounts", json={"email": unique("new"), "display_name": "N",
                                            "role": "viewer", "password": "twelve chars ok"})
    subscription = admin.post("/report-subscriptions", json={"recipients": ["r@save.example"]})
    admin.patch(f"/report-subscriptions/{subscription.json()['id']}", json={"enabled": False})
    admin.delete(f"/report-subscriptions/{subscription.json()['id']}")
    events = outbox(container)[before:]
    assert [e["type"] for e in events] == [
        "accounts.account-created", "reports.subscription-created",
        "reports.subscription-updated", "reports.subscription-deleted"]
    assert all(e["principal"].startswith(f"{me} (api-key:") for e in events)
    assert events[0]["payload"]["account_id"] == account.json()["account_id"]
    assert events[0]["payload"]["password_hash"].startswith("$argon2id$")
    assert events[2]["payload"]["enabled"] is False
    validate = business_event_validator()
    for event in events:
        validate({k: v for k, v in event.items() if k not in ("published_at", "seq")})


def test_a_refused_write_leaves_no_event(container: Container) -> None:
    admin = TestClient(container.app(), headers=grant(container))
    before = len(outbox(container))
    email = f"dup-{uuid.uuid4().hex[:6]}@save.example"
    admin.post("/accounts", json={"email": email, "display_name": "D", "role": "viewer"})
    again = admin.post("/accounts", json={"email": email.upper(), "display_name": "D",
                                          "role": "viewer"})
    assert again.status_code == 409
    assert [e["type"] for e in outbox(container)[before:]] == ["accounts.account-created"]


class FlakyPublisher(EventPublisher):
    """RabbitMQ, failing after `fail_after` publishes (the broker going away mid-batch)."""

    def __init__(self, url: str, exchange: str, fail_after: int | None) -> None:
        self._inner = RabbitEventPublisher(url, exchange)
        self._left = fail_after

    def publish(self, routing_key: str, body: bytes, event_id: str,
                charging_station_id: str | None = None) -> None:
        if self._left is not None:
            if self._left == 0:
                raise ConnectionError("broker gone")
            self._left -= 1
        self._inner.publish(routing_key, body, event_id, charging_station_id)

    def publish_many(self, events: Sequence[OutgoingEvent]) -> None:
        """The first `fail_after` of the batch reach the broker, then it is gone."""
        for event in events:
            self.publish(event.routing_key, event.body, event.event_id,
                         event.charging_station_id)

    def close(self) -> None:
        self._inner.close()


def consumed(url: str, queue: str) -> list[str]:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    ids = []
    while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
        ids.append(message[1].message_id)
    connection.close()
    return ids


@pytest.fixture(params=["sqlite", "postgresql"])
def own_container(request: pytest.FixtureRequest, tmp_path: Path,
                  postgres_database: Callable[..., Any]) -> Iterator[Container]:
    """A database of this test's own: the relay test reads the whole outbox, so events other
    tests of the run left (some already relayed) must not be in it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
        migrate(url)
        built = bootstrap(Settings(database_url=url, data_dir=tmp_path))
        yield built
        built.close()
        return
    with postgres_database("save_server_relay") as url:
        migrate(url)
        built = bootstrap(Settings(database_url=url, data_dir=tmp_path))
        yield built
        built.close()


def test_the_relay_delivers_every_committed_event_once_in_effect_across_failures(
        own_container: Container, rabbit: Any) -> None:
    container = own_container
    connection = pika.BlockingConnection(pika.URLParameters(rabbit.url))
    channel = connection.channel()
    channel.exchange_declare(rabbit.exchange, "topic", durable=True)
    channel.queue_declare(rabbit.queue, durable=True)
    channel.queue_bind(rabbit.queue, rabbit.exchange, "#")
    connection.close()
    admin = TestClient(container.app(), headers=grant(container))
    for n in range(5):
        admin.post("/accounts", json={"email": unique(f"r{n}"), "display_name": "R",
                                      "role": "viewer"})
    committed = [e["event_id"] for e in outbox(container)]

    # the broker fails after 2 events of the first batch: nothing is marked sent
    flaky = OutboxRelay(container.engine, lambda: FlakyPublisher(rabbit.url, rabbit.exchange, 2))
    with pytest.raises(ConnectionError):
        flaky.relay_once()
    assert all(e["published_at"] is None for e in outbox(container))
    # the process dies after the broker confirmed everything but before marking: simulated by
    # unmarking after a successful pass
    relay = OutboxRelay(container.engine, lambda: RabbitEventPublisher(rabbit.url,
                                                                       rabbit.exchange))
    while relay.relay_once():
        pass
    first = min(e["seq"] for e in outbox(container))
    with container.engine.begin() as db:
        db.execute(update(outbox_events).where(outbox_events.c.seq == first)
                   .values(published_at=None))
    assert relay.relay_once() == 1 and relay.relay_once() == 0
    delivered = consumed(rabbit.url, rabbit.queue)
    assert set(delivered) == set(committed)  # every committed event reached the broker
    assert len(delivered) - len(set(delivered)) == 3  # copies carry the same event id
    assert all(e["published_at"] is not None for e in outbox(container))


def test_business_event_schema_refuses_an_event_without_principal() -> None:
    validate = business_event_validator()
    with pytest.raises(jsonschema.ValidationError):
        validate({"event_id": "4f0c8b1e-0000-4000-8000-000000000000",
                  "type": "accounts.account-created", "schema_version": 1,
                  "received_at": "2026-12-05T12:00:00.000000Z", "payload": {},
                  "charging_station_id": None})


def test_operator_station_data_is_an_event_with_who_set_it(
        container: Container, charger: Any) -> None:
    from save_server.infrastructure.translation import parse_envelope, translate
    from save_server.service.ingest import ingest_event

    cp = charger()
    boot = parse_envelope(json.dumps(cp.boot()).encode())
    ingest_event(container.uow_factory, str(boot.event_id), boot.type, translate(boot))
    admin = TestClient(container.app(), headers=grant(container, "operator"))
    before = len(outbox(container))
    assert admin.patch(f"/charging-stations/{cp.station_id}",
                       json={"name": "Garagem", "latitude": -23.5}).status_code == 200
    [event] = outbox(container)[before:]
    assert (event["type"], event["charging_station_id"], event["payload"]) == (
        "stations.details-changed", cp.station_id, {"name": "Garagem", "latitude": -23.5})
    assert "(api-key:" in event["principal"]
    business_event_validator()({k: v for k, v in event.items()
                                if k not in ("published_at", "seq")})
    with container.uow_factory() as uow:  # its delivery back to save-server changes nothing
        assert uow.processed_events.seen(event["event_id"])
    # a refused change (unknown station) leaves no event
    assert admin.patch("/charging-stations/NOPE-1", json={"name": "x"}).status_code == 404
    assert len(outbox(container)) == before + 1


def test_a_replay_of_the_operators_station_data_rebuilds_it(
        container: Container, charger: Any, tmp_path: Any) -> None:
    """The business event, replayed with the station's own events into an empty database,
    gives the same station data; its delivery back to the live service is a duplicate."""
    from save_server.bootstrap import bootstrap
    from save_server.config import Settings
    from save_server.infrastructure.db.engine import migrate
    from save_server.infrastructure.translation import parse_envelope, translate
    from save_server.service.ingest import ingest_event

    def feed(target: Container, bodies: list[bytes]) -> list[bool]:
        applied = []
        for body in bodies:
            event = parse_envelope(body)
            applied.append(ingest_event(target.uow_factory, str(event.event_id), event.type,
                                        translate(event)))
        return applied

    cp = charger()
    boot = json.dumps(cp.boot()).encode()
    feed(container, [boot])
    admin = TestClient(container.app(), headers=grant(container))
    before = len(outbox(container))
    admin.patch(f"/charging-stations/{cp.station_id}", json={"name": "Garagem Azul",
                                                              "address": "Rua A, 1"})
    with container.engine.connect() as db:
        [details] = db.execute(select(outbox_events.c.body).where(
            outbox_events.c.seq > 0).order_by(outbox_events.c.seq)).scalars().all()[before:]
    assert feed(container, [details]) == [False]  # live: its own event, already applied
    live = admin.get(f"/charging-stations/{cp.station_id}").json()

    url = f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}"
    migrate(url)
    rebuilt = bootstrap(Settings(database_url=url, data_dir=tmp_path))
    try:
        assert feed(rebuilt, [boot, details, details]) == [True, True, False]
        again = TestClient(rebuilt.app(), headers=grant(rebuilt)).get(
            f"/charging-stations/{cp.station_id}").json()
    finally:
        rebuilt.close()
    assert (again["name"], again["address"]) == ("Garagem Azul", "Rua A, 1")
    assert again == live


def test_a_stations_business_event_carries_its_station_header(container: Container,
                                                               charger: Any) -> None:
    """Sharded consumers hash the `charging_station_id` header: a station's business events
    must land in the shard of its OCPP events."""
    from csms_embedded.broker import InProcessBroker
    from save_server.infrastructure.outbox.publishers import EmbeddedEventPublisher
    from save_server.infrastructure.translation import parse_envelope, translate
    from save_server.service.ingest import ingest_event

    cp = charger()
    boot = parse_envelope(json.dumps(cp.boot()).encode())
    ingest_event(container.uow_factory, str(boot.event_id), boot.type, translate(boot))
    admin = TestClient(container.app(), headers=grant(container))
    assert admin.patch(f"/charging-stations/{cp.station_id}",
                       json={"name": "N"}).status_code == 200
    broker = InProcessBroker()
    broker.declare_queue("listener", [("ocpp-events", "#")])
    relay = OutboxRelay(container.engine, lambda: EmbeddedEventPublisher(broker, "ocpp-events"))
    while relay.relay_once():
        pass
    headers = {}
    while (message := broker.get("listener", timeout=0)) is not None:
        headers[message.routing_key] = message.headers["charging_station_id"]
    assert headers["stations.details-changed"] == cp.station_id
    assert headers["accounts.api-key-created"] == ""  # no station
