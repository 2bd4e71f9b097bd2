"""The gateways' feed of id tags: what save-server publishes validates against
docs/events/id-tag-registry.*.schema.json and goes to the registry exchange; a gateway's
snapshot request and its `Invalid` answers, through a real RabbitMQ, reach save-server."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pika
import pytest
from fastapi.testclient import TestClient
from referencing import Registry, Resource
from sqlalchemy import select

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.domain.id_tags import IdTag
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.id_tags import consumer
from save_server.infrastructure.outbox.publishers import RabbitEventPublisher, exchange_for
from save_server.infrastructure.outbox.relay import OutboxRelay
from save_server.infrastructure.outbox.tables import outbox_events
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration
EVENTS_DIR = Path(__file__).resolve().parents[3] / "docs" / "events"


def validate(event: dict[str, Any]) -> None:
    resources = []
    for path in EVENTS_DIR.glob("*.schema.json"):
        contents = json.loads(path.read_text())
        resources += [(contents["$id"], Resource.from_contents(contents)),
                      (path.name, Resource.from_contents(contents))]
    name = (f"{event['type']}.schema.json" if event["type"].startswith("id-tag-registry.")
            else "business-event.schema.json")
    jsonschema.Draft202012Validator(
        json.loads((EVENTS_DIR / name).read_text()),
        registry=Registry().with_resources(resources),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(event)


def outbox(container: Container, about: str) -> list[dict[str, Any]]:
    with container.engine.connect() as db:
        rows = db.execute(select(outbox_events.c.body).order_by(outbox_events.c.seq)).scalars()
        found = [json.loads(body) for body in rows]
    return [e for e in found if e["type"].startswith(("id-tags.", "id-tag-registry."))
            and about in json.dumps(e)]


def test_every_id_tag_event_save_server_commits_matches_its_schema(
        container: Container) -> None:
    client = TestClient(container.app(), headers=grant(container, "operator"))
    card = f"C{uuid.uuid4().hex[:8]}"
    site = client.post("/sites", json={"name": "Azul"}).json()["site_id"]
    assert client.post("/id-tag-groups", json={"group_id": f"G{card}", "label": "Apto 1",
                                                "monthly_budget_kwh": 50}).status_code == 201
    assert client.post("/id-tags", json={
        "id_tag": card, "token_type": "ISO14443", "group_id": f"G{card}", "holder": "Ana",
        "expires_at": "2027-01-01T00:00:00Z", "site_ids": [site],
        "max_concurrent_charges": 2, "monthly_budget_kwh": 10}).status_code == 201
    client.patch(f"/id-tags/{card}", json={"status": "blocked"})
    container.id_tags().publish_snapshot("gw-1")
    client.delete(f"/id-tags/{card}")
    client.delete(f"/id-tag-groups/G{card}")
    events = outbox(container, card)
    assert {e["type"] for e in events} >= {
        "id-tags.group-created", "id-tags.tag-created", "id-tags.tag-updated",
        "id-tags.tag-deleted", "id-tags.group-deleted", "id-tag-registry.tag-updated",
        "id-tag-registry.snapshot", "id-tag-registry.tag-removed"}
    for event in events:
        validate(event)


def test_registry_events_of_tags_and_stations_go_to_the_registry_exchange() -> None:
    for key in ("id-tag-registry.tag-updated", "station-registry.snapshot"):
        assert exchange_for(key, "events", "events.registry") == "events.registry"
    assert exchange_for("id-tags.tag-updated", "events", "events.registry") == "events"


def test_the_station_object_names_its_site(container: Container) -> None:
    client = TestClient(container.app(), headers=grant(container, "operator"))
    site = client.post("/sites", json={"name": "Verde"}).json()["site_id"]
    station = f"CP-{uuid.uuid4().hex[:8]}"
    client.post("/charging-stations", json={"charging_station_id": station,
                                            "security_profile": 0, "site_id": site})
    with container.engine.connect() as db:
        rows = db.execute(select(outbox_events.c.body).where(
            outbox_events.c.routing_key == "station-registry.station-registered")).scalars()
        mine = [json.loads(b) for b in rows if station in json.loads(b)["payload"].get(
            "charging_station_id", "")]
    assert [e["payload"]["site_id"] for e in mine] == [site]


def wait_for_queue(connection: pika.BlockingConnection, queue: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            connection.channel().queue_declare(queue, passive=True)
            return
        except pika.exceptions.ChannelClosedByBroker:
            time.sleep(0.1)
    raise AssertionError(f"queue {queue} not declared within 10 s")


@pytest.fixture
def own_container(postgres_database: Callable[..., Any], tmp_path: Path) -> Iterator[Container]:
    """A database of its own: the relay below publishes every pending outbox row, which in
    the session's shared database would include other tests' rows."""
    with postgres_database("id_tag_feed") as url:
        migrate(url)
        built = bootstrap(Settings(database_url=url, data_dir=tmp_path))
        yield built
        built.close()


def test_gateways_snapshot_requests_and_invalid_answers_reach_save_server_over_rabbitmq(
        own_container: Container, rabbit: Any, charger: Callable[..., Any]) -> None:
    container = own_container
    card, unknown = f"C{uuid.uuid4().hex[:8]}", f"U{uuid.uuid4().hex[:8]}"
    service = container.id_tags()
    service.create_tag(IdTag(card), "test")
    registry_exchange = f"{rabbit.exchange}.registry"
    connection = pika.BlockingConnection(pika.URLParameters(rabbit.url))
    channel = connection.channel()
    channel.exchange_declare(registry_exchange, "topic", durable=True)
    channel.queue_declare(rabbit.queue, durable=True)  # the gateway's side
    channel.queue_bind(rabbit.queue, registry_exchange, "id-tag-registry.#")
    stop = threading.Event()
    threads = consumer.serve_rabbitmq(rabbit.url, rabbit.exchange, registry_exchange,
                                      rabbit.queue, service, stop)
    relay = OutboxRelay(container.engine, lambda: RabbitEventPublisher(
        rabbit.url, rabbit.exchange, registry_exchange))
    events_queue, requests_queue = consumer.queues(rabbit.queue)
    try:
        wait_for_queue(connection, events_queue)
        wait_for_queue(connection, requests_queue)
        channel = connection.channel()
        cp = charger()
        refused = cp.event("authorize", "Authorize", {"idTag": unknown},
                           {"idTagInfo": {"status": "Invalid"}})
        for _ in range(2):  # a redelivered copy counts once
            channel.basic_publish(rabbit.exchange, refused["type"], json.dumps(refused).encode())
        channel.basic_publish(registry_exchange, "id-tag-registry.snapshot-requested",
                              json.dumps({"type": "id-tag-registry.snapshot-requested",
                                          "payload": {"gateway_instance": "gw-9"}}).encode())
        deadline, snapshot = time.monotonic() + 10, None
        while snapshot is None and time.monotonic() < deadline:
            relay.relay_once()
            method, _, body = channel.basic_get(rabbit.queue, auto_ack=True)
            if method is None:
                time.sleep(0.1)
                continue
            event = json.loads(body)
            if (event["type"] == "id-tag-registry.snapshot"
                    and event["payload"]["requested_by"] == "gw-9"):
                snapshot = event
        assert snapshot is not None, "no snapshot for gw-9 within 10 s"
        assert card in {t["id_tag"] for t in snapshot["payload"]["tags"]}
        while time.monotonic() < deadline and not [
                u for u in service.unknown() if u.id_tag == unknown]:
            time.sleep(0.1)
        [seen] = [u for u in service.unknown() if u.id_tag == unknown]
        assert seen.station_id == cp.station_id and seen.count == 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        channel = connection.channel()
        for queue in (events_queue, requests_queue):
            channel.queue_delete(queue)
            channel.queue_delete(f"{queue}.dead-letter")
        channel.exchange_delete(registry_exchange)
        channel.exchange_delete(f"{registry_exchange}.dead-letter")
        connection.close()


@pytest.mark.parametrize(("event", "token"), [
    ({"type": "ocpp-events.authorize", "payload": {"idTag": "A1"},
      "response": {"idTagInfo": {"status": "Invalid"}}}, "A1"),
    ({"type": "ocpp-events.authorize", "payload": {"idTag": "A1"},
      "response": {"idTagInfo": {"status": "Blocked"}}}, None),
    ({"type": "ocpp-events.start-transaction", "payload": {"idTag": "S1"},
      "response": {"idTagInfo": {"status": "Invalid"}, "transactionId": 1}}, "S1"),
    ({"type": "ocpp-events.transaction-event", "payload": {"idToken": {
        "idToken": "T1", "type": "ISO14443"}}, "response": {"idTokenInfo": {
            "status": "Invalid"}}}, "T1"),
    ({"type": "ocpp-events.authorize", "payload": {"idToken": {"idToken": "T2",
                                                               "type": "ISO14443"}},
      "response": {"idTokenInfo": {"status": "Accepted"}}}, None),
    ({"type": "ocpp-events.meter-values", "payload": {"idTag": "M1"},
      "response": {"idTagInfo": {"status": "Invalid"}}}, None),
    ({"type": "ocpp-events.authorize", "payload": {"idTag": 5}, "response": None}, None),
    # a gateway that says whether its copy knew the token: that decides, not the status
    ({"type": "ocpp-events.authorize", "payload": {"idTag": "K1"},
      "response": {"idTagInfo": {"status": "Accepted"}},
      "authorization": {"id_tag": "K1", "known": False, "unknown_accepted": True}}, "K1"),
    ({"type": "ocpp-events.authorize", "payload": {"idTag": "K2"},
      "response": {"idTagInfo": {"status": "Invalid"}},
      "authorization": {"id_tag": "K2", "known": True, "unknown_accepted": False}}, None),
    ({"type": "ocpp-events.stop-transaction", "payload": {"idTag": "K3", "transactionId": 1},
      "response": {"idTagInfo": {"status": "Invalid"}},
      "authorization": {"id_tag": "K3", "known": False, "unknown_accepted": False}}, "K3"),
])
def test_which_answers_mean_an_unknown_token(event: dict[str, Any], token: str | None) -> None:
    assert consumer.unknown_token(event) == token


def test_a_card_a_gateway_let_charge_although_unknown_is_enrolled_once(
        container: Container, charger: Callable[..., Any]) -> None:
    service = container.id_tags()
    card, refused_card = f"A{uuid.uuid4().hex[:8]}", f"R{uuid.uuid4().hex[:8]}"
    cp = charger(version="2.0.1")
    accepted = cp.transaction201("Started", "tx-1", id_token=card, energy_wh=0)
    accepted["authorization"] = {"id_tag": card, "known": False, "unknown_accepted": True}
    refused = cp.event("authorize", "Authorize", {"idToken": {"idToken": refused_card,
                                                              "type": "ISO14443"}},
                       {"idTokenInfo": {"status": "Invalid"}})
    refused["authorization"] = {"id_tag": refused_card, "known": False,
                                "unknown_accepted": False}
    for event in (accepted, accepted, refused):  # a redelivered copy changes nothing
        consumer.apply_gateway_event(service, json.dumps(event).encode())
    enrolled = service.tag(card.lower())
    assert (enrolled.id_tag, enrolled.token_type, enrolled.status) == (card, "ISO14443",
                                                                      "active")
    audit = [e for e in outbox(container, card) if e["type"] == "id-tags.tag-enrolled"]
    assert [e["principal"] for e in audit] == [consumer.AUTO_ENROLLED_BY]
    assert [u.id_tag for u in service.unknown() if u.id_tag in (card, refused_card)] == [
        refused_card]
