"""A replay rebuilds the id tags: the `id-tags.*` events an API committed, applied to an empty
database, give back the same tags, groups and registry revision."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.id_tags import projection
from save_server.infrastructure.id_tags.tables import id_tag_groups, id_tag_revision, id_tags
from save_server.infrastructure.outbox.tables import outbox_events
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration
COMPARED = ("token_key", "id_tag", "token_type", "group_id", "holder", "status", "expires_at",
            "site_ids", "station_ids", "max_concurrent_charges", "monthly_budget_kwh",
            "revision")


def state(container: Container) -> tuple[Any, ...]:
    with container.engine.connect() as db:
        tags = sorted(tuple(r._mapping[c] for c in COMPARED) for r in db.execute(
            select(id_tags)))
        groups = sorted(tuple(r) for r in db.execute(select(id_tag_groups)))
        revision = db.execute(select(id_tag_revision.c.revision)).scalar()
    return tags, groups, revision


def test_the_id_tag_events_rebuild_tags_groups_and_the_revision(
        tmp_path: Path, postgres_database: Callable[..., Any]) -> None:
    with postgres_database("id_tag_live") as live_url, \
            postgres_database("id_tag_rebuilt") as rebuilt_url:
        for url in (live_url, rebuilt_url):
            migrate(url)
        live = bootstrap(Settings(database_url=live_url, data_dir=tmp_path))
        rebuilt = bootstrap(Settings(database_url=rebuilt_url, data_dir=tmp_path))
        client = TestClient(live.app(), headers=grant(live, "operator"))
        site = client.post("/sites", json={"name": "Azul"}).json()["site_id"]
        client.post("/id-tag-groups", json={"group_id": "APTO-1", "label": "Apto 1"})
        client.post("/id-tag-groups", json={"group_id": "APTO-2", "label": "Apto 2",
                                            "monthly_budget_kwh": 80})
        client.patch("/id-tag-groups/APTO-2", json={"label": "Apto 2B"})
        client.post("/id-tags", json={"id_tag": "AA11", "group_id": "APTO-1", "holder": "Ana",
                                      "expires_at": "2027-03-01T00:00:00-03:00",
                                      "site_ids": [site]})
        client.post("/id-tags", json={"id_tag": "BB22", "token_type": "eMAID",
                                      "group_id": "APTO-2", "max_concurrent_charges": 2,
                                      "monthly_budget_kwh": 20.5})
        client.post("/id-tags/import", content=b"id_tag,holder,status\nCC33,Caio,blocked\n"
                                               b"aa11,Ana Maria,active\n")
        client.post("/id-tags", json={"id_tag": "DD44"})
        client.delete("/id-tags/DD44")
        assert client.delete("/id-tag-groups/APTO-1").status_code == 409  # no event
        with live.engine.connect() as db:
            events = [json.loads(b) for b in db.execute(select(outbox_events.c.body).where(
                outbox_events.c.routing_key.like("id-tags.%")).order_by(
                outbox_events.c.seq)).scalars()]
        assert len(events) == 9
        with rebuilt.engine.begin() as db:
            project_all(db, events)
            project_all(db, events)  # applied twice (a redelivery): the same rows
        assert state(rebuilt)[:2] == state(live)[:2]
        assert state(rebuilt)[2] == max(e["payload"].get("revision", 0) for e in events)
        # sites are rebuilt by their own projection; this test's rebuilt database has none,
        # which a tag's site list does not need (no foreign key)
        live.close()
        rebuilt.close()


def project_all(db: Any, events: list[dict[str, Any]]) -> None:
    for event in events:
        projection.project(db, event["type"], event["payload"])


@pytest.mark.parametrize(("event_type", "payload"), [
    ("id-tags.tag-created", {"id_tag": "X1"}),  # no status, no limit
    ("id-tags.tag-updated", {"id_tag": "has space", "status": "active",
                             "max_concurrent_charges": 1}),
    ("id-tags.group-created", {"group_id": "G1"}),
    ("id-tags.something-else", {}),
])
def test_an_unusable_id_tag_event_is_poison(sqlite_url: str, event_type: str,
                                            payload: dict[str, Any]) -> None:
    from sqlalchemy import create_engine
    engine = create_engine(sqlite_url)
    with engine.begin() as db, pytest.raises(projection.UnusableIdTagEvent):
        projection.project(db, event_type, payload)
    engine.dispose()
