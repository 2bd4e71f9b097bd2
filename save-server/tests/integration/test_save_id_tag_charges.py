"""Charges and id tags: unauthorized starts are kept and flagged, charges carry the tag's
holder and group at the start, lists and CSVs filter by group, and the worker tells the
gateways each tag's running charges (`id-tag-registry.active-charges`)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from save_server.bootstrap import Container
from save_server.domain.id_tags import IdTag
from save_server.infrastructure.outbox.tables import outbox_events
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration


def ingest(container: Container, *events: dict[str, Any]) -> None:
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))


def refused(event: dict[str, Any], status: str = "Invalid") -> dict[str, Any]:
    info = "idTagInfo" if "idTagInfo" in event["response"] else "idTokenInfo"
    event["response"][info]["status"] = status
    return event


def active_charges(container: Container, id_tag: str) -> list[dict[str, Any]]:
    with container.engine.connect() as db:
        rows = db.execute(select(outbox_events.c.body).where(
            outbox_events.c.routing_key == "id-tag-registry.active-charges")
            .order_by(outbox_events.c.seq)).scalars()
        return [e for e in map(json.loads, rows) if e["payload"]["id_tag"] == id_tag]


def test_charges_are_flagged_unauthorized_and_carry_the_tags_holder_and_group(
        container: Container, charger: Callable[..., Any]) -> None:
    client = TestClient(container.app(), headers=grant(container, "operator"))
    card, group = f"C{uuid.uuid4().hex[:8]}", f"G{uuid.uuid4().hex[:8]}"
    client.post("/id-tag-groups", json={"group_id": group, "label": "Apto 7"})
    client.post("/id-tags", json={"id_tag": card, "group_id": group, "holder": "Bia"})
    cp16, cp201 = charger(), charger(version="2.0.1")
    ingest(container, cp16.boot(), cp16.start(1, 1, 0, card.lower()), cp16.stop(1, 2000),
           cp16.boot(), refused(cp16.start(1, 2, 2000, "NOBODY")), cp16.stop(2, 3000),
           cp201.boot201(),
           refused(cp201.transaction201("Started", "tx-1", id_token=card, energy_wh=0),
                   "Blocked"),
           cp201.transaction201("Ended", "tx-1", energy_wh=500))
    client.patch(f"/id-tags/{card}", json={"holder": "Carla"})  # later: the charges keep Bia
    by_tx = {c["transaction_id"]: c for c in client.get(
        "/charges", params={"charging_station_id": cp16.station_id}).json()}
    assert (by_tx["1"]["unauthorized"], by_tx["1"]["id_tag_holder"],
            by_tx["1"]["id_tag_group"]) == (False, "Bia", group)
    assert (by_tx["2"]["unauthorized"], by_tx["2"]["id_tag_holder"]) == (True, None)
    [blocked] = client.get("/charges", params={"charging_station_id": cp201.station_id}).json()
    assert blocked["unauthorized"] is True and blocked["id_tag_group"] == group
    in_group = client.get("/charges", params={"group": group}).json()
    assert sorted(c["transaction_id"] for c in in_group) == ["1", "tx-1"]
    rows = list(csv.DictReader(io.StringIO(client.get("/charges.csv",
                                                      params={"group": group}).text)))
    assert sorted((r["transaction_id"], r["unauthorized"], r["id_tag_holder"]) for r in rows
                  ) == [("1", "False", "Bia"), ("tx-1", "True", "Bia")]
    report = client.get("/reports/charges.csv", params={
        "start_date": "2026-11-01T00:00:00Z", "end_date": "2026-12-01T00:00:00Z",
        "group": group})
    assert report.status_code == 200, report.text
    assert sorted(r["id_tag"] for r in csv.DictReader(io.StringIO(report.text))) == sorted(
        [card.lower(), card])


def test_the_worker_publishes_a_tags_running_charges_when_one_starts_or_ends(
        container: Container, charger: Callable[..., Any]) -> None:
    card = f"C{uuid.uuid4().hex[:8]}"
    container.id_tags().create_tag(IdTag(card, holder="x"), "t")
    cp, other = charger(), charger()
    ingest(container, cp.boot(), other.boot(), cp.start(1, 11, 0, card.lower()))
    ingest(container, other.start(1, 12, 0, card), cp.meter_values(1, [{"value": "10"}], 11))
    ingest(container, cp.stop(11, 100))
    ingest(container, other.start(2, 13, 0, "SOMEONE-ELSE"))
    published = active_charges(container, card)
    assert [sorted((c["charging_station_id"], c["transaction_id"])
                   for c in e["payload"]["charges"]) for e in published] == [
        [(cp.station_id, "11")],
        sorted([(cp.station_id, "11"), (other.station_id, "12")]),
        [(other.station_id, "12")]]  # meter values changed nothing
    revisions = [e["revision"] for e in published]
    assert revisions == sorted(set(revisions))
    assert container.id_tags().tag(card).revision < revisions[0]


def test_a_card_registered_while_it_charges_has_its_running_charge_published(
        container: Container, charger: Callable[..., Any]) -> None:
    card, idle = f"C{uuid.uuid4().hex[:8]}", f"I{uuid.uuid4().hex[:8]}"
    cp = charger()
    ingest(container, cp.boot(), cp.start(1, 21, 0, card))  # unknown when it started
    container.id_tags().save([IdTag(card), IdTag(idle)], "test", "tag-enrolled")
    [published] = active_charges(container, card)
    assert published["payload"]["charges"] == [{"charging_station_id": cp.station_id,
                                                "transaction_id": "21"}]
    assert published["revision"] > container.id_tags().tag(card).revision
    assert active_charges(container, idle) == []  # nothing running: nothing to say
