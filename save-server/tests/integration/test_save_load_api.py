"""Site load management through the API: the electrical model, building measurements and the
power view; every refusal; the events in the outbox and their replay."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.outbox.tables import outbox_events
from tests.support.api_keys import grant
from tests.support.schemas import EVENTS_DIR

from .test_save_commands_api import ScriptedBus

pytestmark = pytest.mark.integration
SCHEMA = json.loads((EVENTS_DIR / "load-management.schema.json").read_text())


def validate(event: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(event)


@pytest.fixture(scope="module")
def load_postgres_url(postgres_database: Any) -> Iterator[str]:
    """A database of this module's own: the sites it describes would otherwise make the load
    manager of other tests' apps send profiles to their stations through their buses."""
    with postgres_database("save_server_load") as url:
        migrate(url)
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("load_postgres_url"))
    url = f"sqlite:///{tmp_path / 'load.sqlite3'}"
    migrate(url)
    return url


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(container.app(ScriptedBus()), headers=grant(container, "operator")) as c:
        yield c


def new_site(client: TestClient, stations: int = 2) -> tuple[str, list[str]]:
    site_id = client.post("/sites", json={"name": "Condomínio"}).json()["site_id"]
    ids = [f"LM-{uuid.uuid4().hex[:8]}" for _ in range(stations)]
    for station_id in ids:
        assert client.post("/charging-stations", json={
            "charging_station_id": station_id, "security_profile": 0,
            "site_id": site_id}).status_code == 201
    return site_id, ids


def model(stations: list[str], **changes: Any) -> dict[str, Any]:
    return {"supply": "three-phase", "voltage_v": 220, "limit_a": 63,
            "circuits": [{"circuit_id": "garage", "limit_a": 50}],
            "connectors": [{"charging_station_id": s, "connector_id": 1,
                            "phases": ["L1", "L2", "L3"] if i % 2 == 0 else [f"L{i % 3 + 1}"],
                            "circuit_id": "garage"} for i, s in enumerate(stations)],
            **changes}


def poll_power(client: TestClient, site_id: str, ready: Any) -> dict[str, Any]:
    """The power view once the allocation task has recomputed the site (a deadline, not a
    sleep: the recomputation follows the change within moments)."""
    deadline = time.monotonic() + 10
    while True:
        power = client.get(f"/sites/{site_id}/power").json()
        if ready(power) or time.monotonic() > deadline:
            return power
        time.sleep(0.05)


def outbox(container: Container, prefix: str) -> list[dict[str, Any]]:
    with container.engine.connect() as db:
        rows = db.execute(select(outbox_events.c.body).where(
            outbox_events.c.routing_key.like(f"{prefix}%")).order_by(outbox_events.c.seq))
        return [json.loads(body) for body in rows.scalars()]


@contextlib.contextmanager
def rebuilt_load_context(tmp_path: Path) -> Iterator[Any]:
    """The load context of a second platform on an empty database, where a replay of the
    events rebuilds the models; leading, as its allocation task does once it holds the lease."""
    url = f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}"
    migrate(url)
    rebuilt = bootstrap(Settings(database_url=url, data_dir=tmp_path))
    try:
        load = rebuilt.load_context()
        load.allocation.leading.set()
        yield load
    finally:
        rebuilt.close()


def test_an_operator_describes_a_site_and_the_change_is_an_event(
        client: TestClient, container: Container) -> None:
    site_id, stations = new_site(client)
    answer = client.put(f"/sites/{site_id}/electrical", json=model(stations))
    assert answer.status_code == 200, answer.text
    assert answer.json()["connectors"][0]["min_a"] == 6.0 and answer.json()["margin"] == 0.05
    assert client.get(f"/sites/{site_id}/electrical").json() == answer.json()
    events = [e for e in outbox(container, "load-management.electrical-model-set")
              if e["payload"]["site_id"] == site_id]
    assert len(events) == 1 and events[0]["payload"] == answer.json()
    validate(events[0])
    metered = client.put(f"/sites/{site_id}/electrical", json=model(
        stations, building_metered=True,
        building_meter={"charging_station_id": stations[1], "connector_id": 0}))
    assert metered.status_code == 200, metered.text
    assert metered.json()["building_meter"] == {"charging_station_id": stations[1],
                                                "connector_id": 0}
    validate(outbox(container, "load-management.electrical-model-set")[-1])
    group = f"Apto-{uuid.uuid4().hex[:8]}"
    assert client.post("/id-tag-groups", json={"group_id": group, "label": "Apto"}
                       ).status_code == 201
    prioritized = client.put(f"/sites/{site_id}/electrical", json=model(
        stations, group_priorities=[{"group_id": group, "priority": 3}]))
    assert prioritized.status_code == 200, prioritized.text
    assert prioritized.json()["group_priorities"] == [{"group_id": group, "priority": 3}]
    assert client.get(f"/sites/{site_id}/electrical").json()["group_priorities"] == [
        {"group_id": group, "priority": 3}]
    validate(outbox(container, "load-management.electrical-model-set")[-1])


def test_a_group_the_load_management_names_is_not_deleted_until_taken_out(
        client: TestClient, container: Container) -> None:
    site_id, stations = new_site(client, 1)
    group = f"Apto-{uuid.uuid4().hex[:8]}"
    assert client.post("/id-tag-groups", json={"group_id": group, "label": "Apto"}
                       ).status_code == 201
    assert client.put(f"/sites/{site_id}/electrical", json=model(
        stations, group_priorities=[{"group_id": group, "priority": 3}])).status_code == 200
    refused = client.delete(f"/id-tag-groups/{group}")
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == (
        f"id tag group {group} is named in the load management of site(s) {site_id} "
        "(Condomínio): take it out of their group_priorities first")
    assert client.get(f"/id-tag-groups/{group}").status_code == 200
    assert not [e for e in outbox(container, "id-tags.group-deleted")
                if e["payload"]["group_id"] == group]
    assert client.get(f"/sites/{site_id}/electrical").json()["group_priorities"] == [
        {"group_id": group, "priority": 3}]
    assert client.put(f"/sites/{site_id}/electrical", json=model(stations)).status_code == 200
    assert client.delete(f"/id-tag-groups/{group}").status_code == 204
    assert client.get(f"/id-tag-groups/{group}").status_code == 404


def test_a_limit_in_kw_is_stored_in_amperes_per_phase(client: TestClient) -> None:
    site_id, stations = new_site(client, 1)
    body = model(stations, limit_kw=41.58, circuits=[])
    del body["limit_a"]
    body["connectors"][0]["circuit_id"] = None
    answer = client.put(f"/sites/{site_id}/electrical", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["limit_a"] == pytest.approx(63.0)


@pytest.mark.parametrize(("changes", "words"), [
    ({"limit_a": 0}, "above 0"),
    ({"limit_a": -10}, "above 0"),
    ({"limit_a": 5000}, "more than a three-phase supply"),
    ({"limit_kw": 20}, "exactly one of limit_a and limit_kw"),
    ({"circuits": [{"circuit_id": "garage", "limit_a": 80}]}, "above its parent"),
    ({"circuits": [{"circuit_id": "garage", "limit_a": 40, "parent_id": "b"},
                   {"circuit_id": "b", "limit_a": 40, "parent_id": "garage"}]}, "cycle"),
    ({"supply": "single-phase"}, "does not exist on a single-phase site"),
    ({"voltage_v": 0}, "voltage"),
    ({"margin": 0.9}, "margin"),
    ({"building_metered": True, "building_meter": {"charging_station_id": "GHOST-METER"}},
     "not registered at site"),
    ({"building_meter": {"charging_station_id": "GHOST-METER"}}, "building_metered: true"),
    ({"group_priorities": [{"group_id": "G", "priority": 1}, {"group_id": "G", "priority": 2}]},
     "each id tag group once"),
    ({"group_priorities": [{"group_id": "G", "priority": 11}]}, "less than or equal to 10"),
    ({"group_priorities": [{"group_id": "", "priority": 1}]}, "at least 1 character"),
    ({"group_priorities": [{"group_id": "G" * 21, "priority": 1}]}, "at most 20 characters"),
    ({"group_priorities": [{"group_id": "NO-SUCH-GROUP", "priority": 1}]},
     "no id tag group 'NO-SUCH-GROUP'"),
])
def test_a_bad_model_is_refused_with_422_and_nothing_is_written(
        client: TestClient, container: Container, changes: dict[str, Any], words: str) -> None:
    site_id, stations = new_site(client)
    answer = client.put(f"/sites/{site_id}/electrical", json=model(stations, **changes))
    assert answer.status_code == 422, answer.text
    assert words in answer.text
    assert client.get(f"/sites/{site_id}/electrical").status_code == 404
    assert not [e for e in outbox(container, "load-management.")
                if e["payload"]["site_id"] == site_id]


def test_a_connector_of_a_station_at_another_site_is_refused(client: TestClient) -> None:
    site_id, _ = new_site(client, 0)
    _, elsewhere = new_site(client, 1)
    answer = client.put(f"/sites/{site_id}/electrical", json=model(elsewhere))
    assert answer.status_code == 422 and "not registered at site" in answer.text


def test_an_unknown_site_is_404_everywhere(client: TestClient) -> None:
    ghost = str(uuid.uuid4())
    assert client.put(f"/sites/{ghost}/electrical", json=model([])).status_code == 404
    assert client.get(f"/sites/{ghost}/electrical").status_code == 404
    assert client.get(f"/sites/{ghost}/power").status_code == 404
    assert client.post(f"/sites/{ghost}/measurements", json={
        "per_phase_a": {"L1": 3}, "measured_at": datetime.now(UTC).isoformat()}
    ).status_code == 404


def test_a_measurement_is_kept_as_an_event_and_shown_in_the_power_view(
        client: TestClient, container: Container) -> None:
    site_id, stations = new_site(client)
    client.put(f"/sites/{site_id}/electrical", json=model(stations, building_metered=True))
    at = datetime.now(UTC).replace(microsecond=0)
    answer = client.post(f"/sites/{site_id}/measurements", json={
        "per_phase_a": {"L1": 20, "L2": 5.5, "L3": 0}, "measured_at": at.isoformat()})
    assert answer.status_code == 201, answer.text
    events = [e for e in outbox(container, "load-management.measurement-recorded")
              if e["payload"]["site_id"] == site_id]
    assert len(events) == 1 and events[0]["payload"]["per_phase_a"]["L2"] == 5.5
    validate(events[0])
    power = poll_power(client, site_id, lambda p: p["building"]["source"] == "measured")
    assert power["limit_a"] == 63 and power["margin"] == 0.05
    assert power["building"]["per_phase_a"] == {"L1": 20.0, "L2": 5.5, "L3": 0.0}
    # offline stations are counted at their maximum: the 3-phase one on every phase, the
    # 1-phase one on L2 (the garage circuit's own limit does not bind the supply's figure)
    assert power["available_a"] == pytest.approx({"L1": 59.85 - 20 - 32, "L2": 0.0,
                                                  "L3": 59.85 - 32})
    assert {"node": "supply", "phase": "L2"} in power["overloaded"]  # 5.5 + 64 > 59.85
    assert {c["state"] for c in power["connectors"]} == {"offline"}
    assert sorted(power["stations_never_accepting_profiles"]) == sorted(stations)


@pytest.mark.parametrize(("body", "words"), [
    ({"per_phase_a": {"L1": 3}, "measured_at": "2099-01-01T00:00:00Z"}, "in the future"),
    ({"per_phase_a": {"L1": 3}, "measured_at": "2026-12-05T10:00:00"}, "timezone"),
    ({"per_phase_a": {"L1": -1}, "measured_at": "2026-12-05T10:00:00Z"}, "greater than"),
    ({"per_phase_a": {"L4": 1}, "measured_at": "2026-12-05T10:00:00Z"}, "L1"),
    ({"per_phase_a": {}, "measured_at": "2026-12-05T10:00:00Z"}, "at least 1"),
    ({"per_phase_a": {"L1": "many"}, "measured_at": "2026-12-05T10:00:00Z"}, "number"),
])
def test_a_bad_measurement_is_refused_with_422(client: TestClient, body: dict[str, Any],
                                               words: str) -> None:
    site_id, stations = new_site(client)
    client.put(f"/sites/{site_id}/electrical", json=model(stations))
    answer = client.post(f"/sites/{site_id}/measurements", json=body)
    assert answer.status_code == 422, answer.text
    assert words in answer.text


def test_a_phase_the_site_lacks_and_a_site_without_a_model_are_refused(
        client: TestClient) -> None:
    site_id, stations = new_site(client, 1)
    now = datetime.now(UTC).isoformat()
    assert client.post(f"/sites/{site_id}/measurements", json={
        "per_phase_a": {"L1": 1}, "measured_at": now}).status_code == 404  # no model yet
    single = model(stations, supply="single-phase", limit_a=40, circuits=[])
    single["connectors"][0].update(phases=["L1"], circuit_id=None)
    assert client.put(f"/sites/{site_id}/electrical", json=single).status_code == 200
    answer = client.post(f"/sites/{site_id}/measurements", json={
        "per_phase_a": {"L2": 1}, "measured_at": now})
    assert answer.status_code == 422 and "does not exist on a single-phase site" in answer.text


def test_posting_measurements_needs_its_own_permission(container: Container,
                                                       client: TestClient) -> None:
    site_id, stations = new_site(client)
    client.put(f"/sites/{site_id}/electrical", json=model(stations))
    body = {"per_phase_a": {"L1": 1}, "measured_at": datetime.now(UTC).isoformat()}
    for role, status in (("technician", 403), ("viewer", 403), ("admin", 201)):
        answer = client.post(f"/sites/{site_id}/measurements", json=body,
                             headers=grant(container, role))
        assert answer.status_code == status, (role, answer.text)


def test_a_scoped_viewer_gets_404_for_a_site_outside_its_scope(container: Container,
                                                              client: TestClient) -> None:
    site_id, stations = new_site(client)
    client.put(f"/sites/{site_id}/electrical", json=model(stations))
    outsider = grant(container, "viewer", scope=["SOMEWHERE-ELSE"])
    insider = grant(container, "viewer", scope=[stations[0]])
    for path in ("electrical", "power"):
        assert client.get(f"/sites/{site_id}/{path}", headers=outsider).status_code == 404
        assert client.get(f"/sites/{site_id}/{path}", headers=insider).status_code == 200


def test_a_replay_of_the_events_rebuilds_models_and_loads(
        client: TestClient, container: Container, tmp_path: Path) -> None:
    site_id, stations = new_site(client)
    first = client.put(f"/sites/{site_id}/electrical", json=model(stations)).json()
    latest = client.put(f"/sites/{site_id}/electrical", json=model(
        stations, limit_a=40, building_metered=True,
        circuits=[{"circuit_id": "garage", "limit_a": 35}])).json()
    at = (datetime.now(UTC) - timedelta(seconds=5)).replace(microsecond=0)
    client.post(f"/sites/{site_id}/measurements",
                json={"per_phase_a": {"L1": 7}, "measured_at": at.isoformat()})
    events = [e for e in outbox(container, "load-management.")
              if e["payload"]["site_id"] == site_id
              and e["type"] != "load-management.allocation"]
    assert len(events) == 3
    live = container.load_context()
    assert not any(live.store.apply_model(e["event_id"], live.store.model(site_id), at)
                   for e in events[:1])  # live: already applied
    with rebuilt_load_context(tmp_path) as load:
        for event in reversed(events):  # whatever the order, the latest model wins
            load.handle(json.dumps(event).encode())
        for event in events:  # and a second delivery changes nothing
            load.handle(json.dumps(event).encode())
        assert load.store.model(site_id).limit_a == latest["limit_a"] != first["limit_a"]
        assert load.store.load(site_id).per_phase == {"L1": 7.0}
        since = "2026-12-05T12:00:00Z"
        turn = {"charging_station_id": stations[0], "connector_id": 1, "running": False,
                "since": since}
        allocation = {"event_id": str(uuid.uuid4()), "type": "load-management.allocation",
                      "payload": {"site_id": site_id, "computed_at": since, "turns": [turn]}}
        load.handle(json.dumps(allocation).encode())
        assert [(k, t.running) for k, t in load.store.turns(site_id).items()] == [
            ((stations[0], 1), False)]  # the rotation survives a replay


def test_a_stored_model_replays_even_with_a_group_the_api_now_refuses(
        client: TestClient, container: Container, tmp_path: Path) -> None:
    """Events written before groups were checked (64 characters, or a group that never
    existed or was deleted since) still rebuild the model."""
    site_id, stations = new_site(client)
    client.put(f"/sites/{site_id}/electrical", json=model(stations))
    event = next(e for e in outbox(container, "load-management.electrical-model-set")
                 if e["payload"]["site_id"] == site_id)
    old_groups = [{"group_id": "G" * 64, "priority": 2}, {"group_id": "gone", "priority": 1}]
    event = {**event, "payload": {**event["payload"], "group_priorities": old_groups}}
    validate(event)
    with rebuilt_load_context(tmp_path) as load:
        load.handle(json.dumps(event).encode())
        assert load.store.model(site_id).group_priorities == (("G" * 64, 2), ("gone", 1))


def test_after_a_restart_the_context_starts_from_save_servers_tables(
        client: TestClient, container: Container, charger: Any) -> None:
    from save_server.domain.load.live import ChargeChanged, StationSeen
    from save_server.infrastructure.db.readers import SqlChargeReader, SqlStationReader
    from save_server.infrastructure.load.context import projection_seed

    from .test_save_commands_api import feed

    site_id, stations = new_site(client)
    client.put(f"/sites/{site_id}/electrical", json=model(stations))
    charging, idle = charger(stations[0]), charger(stations[1])
    feed(container, [charging.connect(), charging.boot(), charging.start(1, 41, 0),
                     idle.connect(), idle.boot(), idle.disconnect()])
    seen = projection_seed(container.load_context().store, SqlStationReader(container.engine),
                           SqlChargeReader(container.engine))
    assert StationSeen(stations[0], True, booted=True) in seen
    assert ChargeChanged(stations[0], 1, True, "41", "TAG-1") in seen
    assert StationSeen(stations[1], False, booted=False) in seen
    assert not [s for s in seen if isinstance(s, ChargeChanged) and s.station_id == stations[1]]
    only = projection_seed(container.load_context().store, SqlStationReader(container.engine),
                           SqlChargeReader(container.engine), frozenset({stations[1], "ELSE"}))
    assert only == [StationSeen(stations[1], False, booted=False)]  # a model adds it later


def test_one_process_at_a_time_holds_the_load_management_lease(load_postgres_url: str
                                                               ) -> None:
    from sqlalchemy import create_engine

    from save_server.infrastructure.load.lease import PostgresLease

    key = int(uuid.uuid4().int % 2**31)  # a lock of this test's own
    engines = [create_engine(load_postgres_url), create_engine(load_postgres_url)]
    first, second = (PostgresLease(e, key) for e in engines)
    try:
        assert first.try_acquire() and first.held()
        assert not second.try_acquire() and not second.held()
        first.release()
        assert not first.held()
        assert second.try_acquire() and second.held()  # taken over
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()
        for engine in engines:
            engine.dispose()
