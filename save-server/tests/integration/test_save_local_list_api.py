"""GET /charging-stations/{id}/local-list: the state and the sends; id-tags:read needed (every
role has it), a station outside the caller's scope or unknown is 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from save_server.bootstrap import Container
from save_server.domain.id_tags import IdTag
from save_server.domain.local_lists import (
    ListEntry,
    ListStatus,
    LocalListSend,
    LocalListState,
    Support,
    UpdateType,
)
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_the_list_as_known_with_its_sends_and_who_may_see_it(container: Container) -> None:
    station, other = f"CP-{uuid.uuid4().hex[:8]}", f"CP-{uuid.uuid4().hex[:8]}"
    store = container.local_list_store()
    store.save(LocalListState(station, Support.SUPPORTED, "1.6", None, True, 100, 20, 3, 3,
                              {"alice": ListEntry("ALICE", ListStatus.ACCEPTED, None, "APT-1",
                                                  "ISO14443")}, 9, False, T0))
    store.record(LocalListSend("c-1", station, 3, UpdateType.DIFFERENTIAL, 1, 1, 1, T0,
                               "accepted", "Accepted", "tags-changed"))
    store.save(LocalListState(other))
    client = TestClient(container.app())
    operator = grant(container, "operator")

    body = client.get(f"/charging-stations/{station}/local-list", headers=operator).json()
    assert (body["support"], body["acknowledged_version"], body["max_per_message"],
            body["in_sync"]) == ("supported", 3, 20, True)
    assert body["entries"] == [{"id_tag": "ALICE", "status": "Accepted", "expires_at": None,
                                "parent_id_tag": "APT-1", "token_type": "ISO14443"}]
    assert [(s["list_version"], s["status"], s["reason"]) for s in body["sends"]] == [
        (3, "Accepted", "tags-changed")]
    fresh = client.get(f"/charging-stations/{other}/local-list", headers=operator).json()
    assert (fresh["support"], fresh["entries"], fresh["sends"]) == ("unknown", None, [])

    scoped = grant(container, "operator", [other])
    assert client.get(f"/charging-stations/{station}/local-list",
                      headers=scoped).status_code == 404
    assert client.get(f"/charging-stations/{other}/local-list",
                      headers=scoped).status_code == 200
    assert client.get("/charging-stations/CP-NOBODY/local-list",
                      headers=operator).status_code == 404
    assert client.get(f"/charging-stations/{station}/local-list",
                      headers=grant(container, "technician")).status_code == 200
    assert client.get(f"/charging-stations/{station}/local-list").status_code == 401
    assert client.get(f"/charging-stations/{station}/local-list?sends=1001",
                      headers=operator).status_code == 422


def test_a_scoped_viewer_sees_only_the_entries_of_the_tags_it_sees(
        container: Container) -> None:
    """A network tag (allowed everywhere) that never charged at the station stays hidden
    (domain/id_tags/visibility.py), though the station's list holds it."""
    station = f"CP-{uuid.uuid4().hex[:8]}"
    mine, network = f"M{uuid.uuid4().hex[:8]}", f"N{uuid.uuid4().hex[:8]}"
    container.access_control().registry.register(station, 0, "test")
    container.id_tags().create_tag(IdTag(mine, station_ids=(station,)), "test")
    container.id_tags().create_tag(IdTag(network), "test")
    entries = {t.casefold(): ListEntry(t, ListStatus.ACCEPTED, None, None, "ISO14443")
               for t in (mine, network)}
    container.local_list_store().save(LocalListState(
        station, Support.SUPPORTED, "1.6", None, True, 100, 20, 1, 1, entries, 0, False, T0))
    client = TestClient(container.app())
    seen = client.get(f"/charging-stations/{station}/local-list",
                      headers=grant(container, "viewer", [station])).json()["entries"]
    assert [e["id_tag"] for e in seen] == [mine]
    everything = client.get(f"/charging-stations/{station}/local-list",
                            headers=grant(container, "viewer")).json()["entries"]
    assert sorted(e["id_tag"] for e in everything) == sorted([mine, network])
