"""A viewer scoped to a site reads its site's id tags (domain/id_tags/visibility.py): the tags
restricted to its site or stations, and the tags allowed everywhere that charged there; every
other tag answers 404 exactly as an unknown one and is missing from the list, the CSV, the
usage, the groups, the unknown tokens and the station's local list; it changes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from save_server.bootstrap import Container
from save_server.domain.id_tags import IdTag, TagScope
from save_server.infrastructure.id_tags.consumer import unknown_token
from save_server.infrastructure.translation import parse_envelope
from tests.support.api_keys import grant

from .test_save_id_tags_api import ingest, token

pytestmark = pytest.mark.integration


def test_the_rule_sees_its_places_and_the_network_tags_that_charged_there() -> None:
    scope = TagScope(frozenset({"S1"}), frozenset({"CP-1"}), frozenset({"used"}))
    seen = {
        "restricted to the site": IdTag("a", site_ids=("S1", "S2")),
        "restricted to the station": IdTag("b", station_ids=("CP-1",)),
        "everywhere, charged here": IdTag("USED"),
    }
    unseen = {
        "everywhere, never here": IdTag("c"),
        "restricted elsewhere, charged here": IdTag("used", site_ids=("S2",)),
        "restricted to nowhere": IdTag("d", site_ids=()),
        "another station": IdTag("e", station_ids=("CP-2",)),
    }
    assert {name for name, tag in seen.items() if scope.sees(tag)} == set(seen)
    assert {name for name, tag in unseen.items() if scope.sees(tag)} == set()


def test_a_shared_tag_is_shown_with_only_the_places_of_the_scope() -> None:
    scope = TagScope(frozenset({"S1"}), frozenset({"CP-1"}), frozenset())
    shared = IdTag("a", site_ids=("S2", "S1"), station_ids=("CP-1", "CP-2"))
    assert scope.shown(shared).document()["site_ids"] == ["S1"]
    assert scope.shown(shared).document()["station_ids"] == ["CP-1"]
    assert scope.shown(IdTag("b", site_ids=("S1",))).station_ids is None  # not made stricter
    assert scope.shown(IdTag("c", station_ids=("CP-1",))).site_ids is None


def test_a_site_viewer_reads_its_sites_tags_and_nothing_else(
        container: Container, charger: Callable[..., Any]) -> None:
    admin = TestClient(container.app(), headers=grant(container))
    azul = admin.post("/sites", json={"name": "Azul"}).json()["site_id"]
    verde = admin.post("/sites", json={"name": "Verde"}).json()["site_id"]
    mine, theirs = charger(), charger()
    for station, site in ((mine, azul), (theirs, verde)):
        assert admin.post("/charging-stations", json={
            "charging_station_id": station.station_id, "security_profile": 0,
            "site_id": site}).status_code == 201
    here, at_station, network_used, network, elsewhere, stray, shared = (
        token() for _ in range(7))
    group, other_group = (f"G{uuid.uuid4().hex[:8]}" for _ in range(2))
    for g in (group, other_group):
        admin.post("/id-tag-groups", json={"group_id": g, "label": f"Apto {g}"})
    for body in ({"id_tag": here, "site_ids": [azul], "group_id": group},
                 {"id_tag": at_station, "station_ids": [mine.station_id]},
                 {"id_tag": network_used}, {"id_tag": network},
                 {"id_tag": elsewhere, "site_ids": [verde], "group_id": other_group},
                 {"id_tag": shared, "site_ids": [verde, azul],
                  "station_ids": [theirs.station_id, mine.station_id]}):
        assert admin.post("/id-tags", json=body).status_code == 201, body
    ingest(container, mine.boot(), mine.start(1, 1, 0, network_used.lower()),
           mine.stop(1, 2000), mine.start(1, 2, 2000, elsewhere), mine.stop(2, 3000),
           theirs.boot(), theirs.start(1, 3, 0, network), theirs.stop(3, 1000))
    for station, card in ((mine, stray), (theirs, "THEIR-STRAY")):
        refused = station.event("authorize", "Authorize", {"idTag": card},
                                {"idTagInfo": {"status": "Invalid"}})
        container.id_tags().record_unknown(
            refused["event_id"], unknown_token(refused), station.station_id,
            parse_envelope(json.dumps(refused).encode()).received_at)
    manager = admin.post("/accounts", json={
        "email": f"m-{uuid.uuid4().hex[:6]}@azul.example", "display_name": "Síndico",
        "role": "viewer", "site_scope": [azul]}).json()
    key = admin.post("/api-keys", json={"name": "m", "account_id": manager["account_id"]})
    viewer = TestClient(container.app(), headers={
        "Authorization": f"Bearer {key.json()['api_key']}"})

    visible = {here, at_station, network_used, shared}
    for card in visible:
        assert viewer.get(f"/id-tags/{card}").status_code == 200, card
    # a tag shared with another site names only the viewer's places, wherever it is read
    listed = {t["id_tag"]: t for t in viewer.get("/id-tags", params={"limit": 1000}).json()}
    for shown in (viewer.get(f"/id-tags/{shared}").json(), listed[shared]):
        assert (shown["site_ids"], shown["station_ids"]) == ([azul], [mine.station_id])
    shared_row = next(line for line in viewer.get("/id-tags/export").text.splitlines()
                      if line.startswith(shared))
    assert verde not in shared_row and theirs.station_id not in shared_row
    assert azul in shared_row and mine.station_id in shared_row
    assert admin.get(f"/id-tags/{shared}").json()["site_ids"] == [verde, azul]
    unknown = viewer.get("/id-tags/NO-SUCH-TAG")
    for card in (network, elsewhere):  # exactly as a tag that does not exist
        refused = viewer.get(f"/id-tags/{card}")
        assert (refused.status_code, refused.json()) == (
            404, {"detail": f"no id tag {card}"}) and unknown.status_code == 404
    assert {t["id_tag"] for t in viewer.get("/id-tags", params={"limit": 1000}).json()
            } == visible
    exported = viewer.get("/id-tags/export").text
    assert all(c in exported for c in visible) and network not in exported
    assert elsewhere not in exported
    usage = viewer.get("/id-tags/usage",
                       params={"month": datetime.now(UTC).strftime("%Y-%m")}).json()
    assert elsewhere not in json.dumps(usage) and network not in json.dumps(usage)
    assert "unregistered" not in usage
    assert [g["group_id"] for g in viewer.get("/id-tag-groups").json()] == [group]
    assert viewer.get(f"/id-tag-groups/{group}").status_code == 200
    hidden = viewer.get(f"/id-tag-groups/{other_group}")
    assert (hidden.status_code, hidden.json()) == (
        404, {"detail": f"no id tag group {other_group}"})
    assert {u["id_tag"] for u in viewer.get("/id-tags/unknown").json()} == {stray}
    assert viewer.get(f"/charging-stations/{mine.station_id}/local-list").status_code == 200
    assert viewer.get(f"/charging-stations/{theirs.station_id}/local-list").status_code == 404

    writes = [("post", "/id-tags", {"id_tag": token()}),
              ("patch", f"/id-tags/{here}", {"holder": "x"}),
              ("delete", f"/id-tags/{here}", None),
              ("post", "/id-tag-groups", {"group_id": "GX", "label": "x"}),
              ("patch", f"/id-tag-groups/{group}", {"label": "x"}),
              ("delete", f"/id-tag-groups/{group}", None),
              ("post", f"/id-tags/unknown/{stray}/enroll", None)]
    for method, path, body in writes:
        answer = viewer.request(method.upper(), path, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
    assert viewer.post("/id-tags/import", content=f"id_tag\n{token()}\n",
                       headers={"Content-Type": "text/csv"}).status_code == 403
    assert admin.get(f"/id-tags/{here}").json()["holder"] is None  # nothing changed


def test_an_unscoped_viewer_reads_every_tag_and_changes_none(container: Container) -> None:
    admin = TestClient(container.app(), headers=grant(container))
    card = token()
    admin.post("/id-tags", json={"id_tag": card, "site_ids": []})
    viewer = TestClient(container.app(), headers=grant(container, "viewer"))
    assert viewer.get(f"/id-tags/{card}").status_code == 200
    assert viewer.patch(f"/id-tags/{card}", json={"holder": "x"}).status_code == 403


def test_a_scoped_page_is_one_query_however_many_hidden_tags_lie_between(
        container: Container) -> None:
    admin = TestClient(container.app(), headers=grant(container))
    site = admin.post("/sites", json={"name": "Azul"}).json()["site_id"]
    prefix = token()
    seen = [f"{prefix}-{n:02}" for n in (0, 20, 41)]
    for n in range(42):
        card = f"{prefix}-{n:02}"
        assert admin.post("/id-tags", json={"id_tag": card, "site_ids": [
            site] if card in seen else []}).status_code == 201
    manager = admin.post("/accounts", json={
        "email": f"m-{uuid.uuid4().hex[:6]}@azul.example", "display_name": "Síndico",
        "role": "viewer", "site_scope": [site]}).json()
    key = admin.post("/api-keys", json={"name": "m", "account_id": manager["account_id"]})
    viewer = TestClient(container.app(), headers={
        "Authorization": f"Bearer {key.json()['api_key']}"})
    tag_queries: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM id_tags" in statement:
            tag_queries.append(statement)

    pages, url = [], f"/id-tags?q={prefix}&limit=1"
    event.listen(container.engine, "before_cursor_execute", count)
    try:
        while url:
            tag_queries.clear()
            answer = viewer.get(url)
            assert answer.status_code == 200, answer.text
            assert len(tag_queries) == 1, f"{len(tag_queries)} id tag queries for {url}"
            pages.append([t["id_tag"] for t in answer.json()])
            link = answer.headers.get("link")
            url = link[link.index("<") + 1:link.index(">")] if link else ""
    finally:
        event.remove(container.engine, "before_cursor_execute", count)
    assert pages == [[card] for card in seen]
