"""Sites and the station registry through the API: what operators do, what the gateways get
(`station-registry.*` events in the outbox), and password rotation pushed to the station."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from save_server.bootstrap import Container
from save_server.domain.station_commands import CommandAnswer, CommandOutcome
from save_server.infrastructure.outbox.tables import outbox_events
from save_server.infrastructure.registry.store import SqlRegistryStore
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from save_server.service.registry import ATTEMPTS, RegistrationNotFound, RegistryService
from tests.support.api_keys import grant

from .test_save_commands_api import ScriptedBus

pytestmark = pytest.mark.integration


def registry_events(container: Container, station_id: str) -> list[dict[str, Any]]:
    with container.engine.connect() as db:
        rows = db.execute(select(outbox_events.c.body).where(
            outbox_events.c.routing_key.like("station-registry.%"))
            .order_by(outbox_events.c.seq)).scalars()
        events = [json.loads(body) for body in rows]
    return [e for e in events if e["charging_station_id"] == station_id]


def new_id() -> str:
    return f"REG-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def bus() -> ScriptedBus:
    return ScriptedBus()


@pytest.fixture
def client(container: Container, bus: ScriptedBus) -> Iterator[TestClient]:
    with TestClient(container.app(bus), headers=grant(container, "operator")) as client:
        yield client


def hashed(password: str, entry: dict[str, Any]) -> bool:
    return hashlib.sha256(bytes.fromhex(entry["salt"]) + password.encode()
                          ).hexdigest() == entry["hash"]


def test_sites_are_created_changed_and_deleted_with_checks(client: TestClient) -> None:
    site = client.post("/sites", json={"name": "Condomínio Azul", "address": "Rua A, 1"})
    assert site.status_code == 201 and site.json()["timezone"] == "America/Sao_Paulo"
    site_id = site.json()["site_id"]
    assert client.patch(f"/sites/{site_id}", json={"timezone": "Mars/Olympus"}
                        ).status_code == 422
    assert client.patch(f"/sites/{site_id}", json={"latitude": 91}).status_code == 422
    assert client.patch(f"/sites/{site_id}", json={"name": "Azul"}).json()["name"] == "Azul"
    station = new_id()
    client.post("/charging-stations", json={"charging_station_id": station,
                                            "security_profile": 0, "site_id": site_id})
    assert client.delete(f"/sites/{site_id}").status_code == 409  # a station belongs to it
    client.delete(f"/charging-stations/{station}")
    assert client.delete(f"/sites/{site_id}").status_code == 204
    assert client.get(f"/sites/{site_id}").status_code == 404


def test_registering_a_station_shows_its_password_once_and_tells_the_gateways(
        container: Container, client: TestClient) -> None:
    station = new_id()
    made = client.post("/charging-stations", json={"charging_station_id": station,
                                                   "security_profile": 2, "ocpp_version": "1.6"})
    assert made.status_code == 201, made.text
    password = made.json()["password"]
    assert len(password) == 32 and made.json()["basic_auth_username"] == station
    shown = client.get(f"/charging-stations/{station}/registration").json()
    assert "password" not in shown and shown["security_profile"] == 2
    assert client.post("/charging-stations", json={"charging_station_id": station,
                                                   "security_profile": 1}).status_code == 409
    [event] = registry_events(container, station)
    assert event["type"] == "station-registry.station-registered" and event["revision"] > 0
    assert password not in json.dumps(event)
    [entry] = event["payload"]["passwords"]
    assert hashed(password, entry) and entry["valid_until"] is None
    assert event["payload"]["ocpp_version"] == "1.6"

    client.patch(f"/charging-stations/{station}/registration", json={"enabled": False})
    assert client.delete(f"/charging-stations/{station}").status_code == 204
    assert client.delete(f"/charging-stations/{station}").status_code == 404
    kinds = [(e["type"].split(".")[1], e["revision"]) for e in registry_events(container,
                                                                                station)]
    assert [k for k, _ in kinds] == ["station-registered", "station-updated",
                                     "station-deregistered"]
    assert [r for _, r in kinds] == sorted({r for _, r in kinds})  # strictly growing


def station_events(container: Container, station_id: str) -> list[str]:
    """The types of every outbox event about the station (registry and audit), in order."""
    with container.engine.connect() as db:
        bodies = db.execute(select(outbox_events.c.body).order_by(outbox_events.c.seq)
                            ).scalars().all()
    events = [json.loads(body) for body in bodies]
    return [e["type"] for e in events if e.get("charging_station_id") == station_id]


DEREGISTERED = ["station-registry.station-deregistered", "registry.station-deregistered"]


def is_registered(container: Container, station_id: str) -> bool:
    return station_id in {r.station_id for r in
                          container.access_control().registry.list_registrations()}


@pytest.fixture
def deregistered_after_read(container: Container, monkeypatch: pytest.MonkeyPatch
                            ) -> Callable[[str], None]:
    """Give it a station: another operator deregisters it right after the registry's next
    read of it, so that the write which follows that read races a committed DELETE."""
    read = SqlRegistryStore.registration
    racing: set[str] = set()
    other = RegistryService(SqlRegistryStore(container.engine))

    def read_then_deregister(store: SqlRegistryStore, station_id: str) -> Any:
        found = read(store, station_id)
        if station_id in racing:
            racing.discard(station_id)
            other.deregister(station_id, "other-operator")
        return found

    monkeypatch.setattr(SqlRegistryStore, "registration", read_then_deregister)
    return racing.add


def test_a_change_racing_a_deregistration_answers_404_and_leaves_it_deregistered(
        container: Container, client: TestClient,
        deregistered_after_read: Callable[[str], None]) -> None:
    station = new_id()
    client.post("/charging-stations", json={"charging_station_id": station,
                                            "security_profile": 1})
    before = station_events(container, station)
    deregistered_after_read(station)
    patched = client.patch(f"/charging-stations/{station}/registration",
                           json={"enabled": False})
    assert patched.status_code == 404, patched.text
    assert patched.json()["detail"] == f"station {station!r} is not registered"
    assert client.get(f"/charging-stations/{station}/registration").status_code == 404
    assert station_events(container, station) == before + DEREGISTERED


@pytest.mark.parametrize("write", [
    lambda registry, station: registry.update(station, {"name": "Bay 9"}, "test"),
    lambda registry, station: registry.rotate_password(station, "test"),
    lambda registry, station: registry.roll_back_rotation(station, "test", "Rejected"),
], ids=["update", "rotate", "roll-back"])
def test_an_operators_write_racing_a_deregistration_is_refused_and_writes_nothing(
        container: Container, deregistered_after_read: Callable[[str], None],
        write: Callable[[RegistryService, str], Any]) -> None:
    registry = container.access_control().registry
    station = new_id()
    registry.register(station, 1, "test")
    registry.rotate_password(station, "test")  # pending: a roll-back has something to do
    before = station_events(container, station)
    deregistered_after_read(station)
    with pytest.raises(RegistrationNotFound):
        write(registry, station)
    assert not is_registered(container, station)
    assert station_events(container, station) == before + DEREGISTERED


@pytest.fixture
def written_after_read(container: Container, monkeypatch: pytest.MonkeyPatch
                       ) -> Callable[[str, Callable[[RegistryService], Any], int], list[Any]]:
    """Give it a station, another operator's write and how many times: the write runs right
    after each of the registry's next reads of the station (not after its own reads), between
    a change's read and its write. What the writes return is in the list it gives back."""
    read = SqlRegistryStore.registration
    other = RegistryService(SqlRegistryStore(container.engine))
    pending: list[Callable[[RegistryService], Any]] = []
    results: list[Any] = []
    racing = [False]

    def read_then_write(store: SqlRegistryStore, station_id: str) -> Any:
        found = read(store, station_id)
        if pending and not racing[0]:
            racing[0] = True
            try:
                results.append(pending.pop(0)(other))
            finally:
                racing[0] = False
        return found

    def arrange(station_id: str, write: Callable[[RegistryService], Any],
                times: int = 1) -> list[Any]:
        pending.extend([write] * times)
        return results

    monkeypatch.setattr(SqlRegistryStore, "registration", read_then_write)
    return arrange


def test_a_patch_racing_a_rotation_keeps_the_new_password_and_the_patch(
        container: Container, client: TestClient,
        written_after_read: Callable[..., list[Any]]) -> None:
    """The rotation's password was shown to its operator: the PATCH, read before it, must
    not write the old passwords back."""
    station = new_id()
    first = client.post("/charging-stations", json={"charging_station_id": station,
                                                    "security_profile": 1}).json()["password"]
    rotations = written_after_read(
        station, lambda other: other.rotate_password(station, "other-operator"))
    patched = client.patch(f"/charging-stations/{station}/registration", json={"name": "Bay 9"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Bay 9" and "password" not in patched.json()
    [rotated] = rotations
    event = registry_events(container, station)[-1]
    assert event["type"] == "station-registry.station-updated"
    current, previous = event["payload"]["passwords"]  # what the gateways admit
    assert hashed(rotated.password, current) and current["valid_until"] is None
    assert hashed(first, previous) and previous["valid_until"] is not None
    shown = client.get(f"/charging-stations/{station}/registration").json()
    assert shown["name"] == "Bay 9" and shown["password_rotation_pending"]


def test_a_patch_overtaken_on_every_try_answers_409_and_changes_nothing(
        container: Container, client: TestClient,
        written_after_read: Callable[..., list[Any]]) -> None:
    station = new_id()
    client.post("/charging-stations", json={"charging_station_id": station,
                                            "security_profile": 0})
    written_after_read(station, lambda other: other.update(station, {"name": new_id()},
                                                           "other-operator"), ATTEMPTS)
    patched = client.patch(f"/charging-stations/{station}/registration",
                           json={"enabled": False})
    assert patched.status_code == 409, patched.text
    assert "nothing was changed" in patched.json()["detail"]
    assert client.get(f"/charging-stations/{station}/registration").json()["enabled"] is True
    updates = [e for e in registry_events(container, station)
               if e["type"] == "station-registry.station-updated"]
    assert len(updates) == ATTEMPTS and all(e["payload"]["enabled"] for e in updates)


@pytest.mark.parametrize("body", [
    {"charging_station_id": "has space", "security_profile": 1},
    {"charging_station_id": "X" * 49, "security_profile": 1},
    {"charging_station_id": "OK-1", "security_profile": 4},
    {"charging_station_id": "OK-1", "security_profile": 1, "site_id": "no-such-site"},
    {"charging_station_id": "OK-1", "security_profile": 1, "colour": "red"},
    {"charging_station_id": "OK-1", "security_profile": 1, "evse_types": {"1": "Type2"}},
    {"charging_station_id": "OK-1", "security_profile": 1, "evse_types": {"0": "AC"}},
    {"charging_station_id": "OK-1", "security_profile": 1, "evse_types": {"one": "AC"}},
    {"charging_station_id": "OK-1", "security_profile": 1, "evse_types": ["AC"]},
    # a digit that int() does not read (str.isdigit says yes): a 422, not a 500
    {"charging_station_id": "OK-1", "security_profile": 1, "evse_types": {"\u00b2": "AC"}},
    {"charging_station_id": "OK-1", "security_profile": 1, "evse_types": {"1000": "AC"}},
])
def test_bad_registrations_get_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/charging-stations", json=body).status_code == 422


@pytest.mark.parametrize(("body", "field"), [
    ({"enabled": None}, "enabled"),  # was a database refusal passed off as "no site None"
    ({"security_profile": None}, "security_profile"),
    ({"site_id": "no-such-site"}, "site_id"),
])
def test_bad_changes_get_422_naming_the_field_and_change_nothing(
        client: TestClient, body: dict[str, Any], field: str) -> None:
    station = new_id()
    client.post("/charging-stations", json={"charging_station_id": station,
                                            "security_profile": 0})
    before = client.get(f"/charging-stations/{station}/registration").json()
    refused = client.patch(f"/charging-stations/{station}/registration", json=body)
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", field]
    assert client.get(f"/charging-stations/{station}/registration").json() == before


def test_evse_types_are_declared_shown_and_fed_to_the_gateways(
        container: Any, client: TestClient) -> None:
    station = f"EV-{uuid.uuid4().hex[:8]}"
    created = client.post("/charging-stations", json={
        "charging_station_id": station, "security_profile": 0,
        "evse_types": {"02": "AC", "1": "DC"}})
    assert created.status_code == 201, created.text
    assert created.json()["evse_types"] == {"1": "DC", "2": "AC"}
    patched = client.patch(f"/charging-stations/{station}/registration",
                           json={"evse_types": {"1": "AC"}})
    assert patched.json()["evse_types"] == {"1": "AC"}
    assert client.patch(f"/charging-stations/{station}/registration",
                        json={"evse_types": {"1": "XX"}}).status_code == 422
    with container.engine.connect() as db:
        bodies = [json.loads(b) for b in db.execute(select(outbox_events.c.body).where(
            outbox_events.c.routing_key.like("station-registry.%"))).scalars()]
    fed = [b["payload"]["evse_types"] for b in bodies
           if b.get("charging_station_id") == station]
    assert fed == [{"1": "DC", "2": "AC"}, {"1": "AC"}]


def test_a_technician_reads_the_registry_but_does_not_change_it(container: Container) -> None:
    technician = TestClient(container.app(), headers=grant(container, "technician"))
    assert technician.get("/charging-stations/registrations").status_code == 200
    assert technician.post("/charging-stations", json={"charging_station_id": "T-1",
                                                       "security_profile": 1}
                           ).status_code == 403
    assert technician.get("/charging-stations/unknown").status_code == 403


def connected(container: Container, charger: Callable[..., Any], station_id: str) -> None:
    cp = charger(station_id=station_id)
    for event in (cp.boot(), cp.status(1, "Available")):
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))


def test_a_rotation_accepted_by_a_1_6_station_keeps_the_old_password_for_the_grace_period(
        container: Container, client: TestClient, bus: ScriptedBus,
        charger: Callable[..., Any]) -> None:
    station = new_id()
    first = client.post("/charging-stations", json={"charging_station_id": station,
                                                    "security_profile": 1}).json()["password"]
    connected(container, charger, station)
    bus.answers.append(CommandAnswer(CommandOutcome.ACCEPTED, {"status": "Accepted"},
                                     ocpp_version="1.6", action="ChangeConfiguration"))
    rotated = client.post(f"/charging-stations/{station}/password")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["password"]
    [request] = bus.requests
    assert request.command == "change-configuration"
    assert request.parameters == {"key": "AuthorizationKey", "value": new.encode().hex()}
    event = registry_events(container, station)[-1]
    assert event["type"] == "station-registry.password-changed"
    current, previous = event["payload"]["passwords"]
    assert hashed(new, current) and current["valid_until"] is None
    assert hashed(first, previous) and previous["valid_until"] is not None


def test_a_2_0_1_station_gets_set_variables(container: Container, client: TestClient,
                                            bus: ScriptedBus,
                                            charger: Callable[..., Any]) -> None:
    station = new_id()
    client.post("/charging-stations", json={"charging_station_id": station,
                                            "security_profile": 2})
    connected(container, charger, station)
    bus.answers += [CommandAnswer(CommandOutcome.UNSUPPORTED, error_description="1.6 only"),
                    CommandAnswer(CommandOutcome.ACCEPTED, {"setVariableResult": [
                        {"attributeStatus": "Accepted"}]}, ocpp_version="2.0.1")]
    rotated = client.post(f"/charging-stations/{station}/password")
    assert rotated.status_code == 200, rotated.text
    second = bus.requests[1]
    assert second.command == "set-variables"
    assert second.parameters["variables"][0] == {
        "component": "SecurityCtrlr", "variable": "BasicAuthPassword",
        "value": rotated.json()["password"]}


@pytest.mark.parametrize("outcome", [CommandOutcome.REJECTED, CommandOutcome.CALL_ERROR,
                                     CommandOutcome.NOT_CONNECTED])
def test_a_refused_push_leaves_the_old_password_in_force(
        container: Container, client: TestClient, bus: ScriptedBus,
        charger: Callable[..., Any], outcome: CommandOutcome) -> None:
    station = new_id()
    first = client.post("/charging-stations", json={"charging_station_id": station,
                                                    "security_profile": 1}).json()["password"]
    connected(container, charger, station)
    bus.answers.append(CommandAnswer(outcome, {"status": "Rejected"}, ocpp_version="1.6"))
    refused = client.post(f"/charging-stations/{station}/password")
    assert refused.status_code == 409 and "old password stays" in refused.json()["detail"]
    assert "password" not in refused.json()
    [only] = registry_events(container, station)[-1]["payload"]["passwords"]
    assert hashed(first, only) and only["valid_until"] is None


def test_snapshot_lists_every_station_at_the_registry_revision(container: Container,
                                                               client: TestClient) -> None:
    stations = [new_id(), new_id()]
    for station in stations:
        client.post("/charging-stations", json={"charging_station_id": station,
                                                "security_profile": 0})
    revision = container.access_control().registry.publish_snapshot("gateway-x")
    with container.engine.connect() as db:
        body = db.execute(select(outbox_events.c.body).where(
            outbox_events.c.routing_key == "station-registry.snapshot")
            .order_by(outbox_events.c.seq.desc())).scalars().first()
    snapshot = json.loads(body)
    assert snapshot["revision"] == revision and snapshot["payload"]["requested_by"] == "gateway-x"
    listed = {s["charging_station_id"]: s for s in snapshot["payload"]["stations"]}
    assert set(stations) <= set(listed)
    assert all(listed[s]["revision"] <= revision for s in stations)


def test_a_gateways_snapshot_request_on_rabbitmq_gets_the_whole_registry(
        container: Container, client: TestClient, rabbit: Any) -> None:
    import threading
    import time

    import pika

    from save_server.infrastructure.outbox.publishers import RabbitEventPublisher
    from save_server.infrastructure.outbox.relay import OutboxRelay
    from save_server.infrastructure.registry.snapshots import serve_rabbitmq

    station = new_id()
    client.post("/charging-stations", json={"charging_station_id": station,
                                            "security_profile": 0})
    registry_exchange = f"{rabbit.exchange}.registry"
    connection = pika.BlockingConnection(pika.URLParameters(rabbit.url))
    channel = connection.channel()
    channel.exchange_declare(registry_exchange, "topic", durable=True)
    channel.queue_declare(rabbit.queue, durable=True)  # the gateway's side
    channel.queue_bind(rabbit.queue, registry_exchange, "station-registry.snapshot")
    stop = threading.Event()
    requests = f"{rabbit.queue}.registry-requests"
    serve_rabbitmq(rabbit.url, registry_exchange, requests,
                   container.access_control().registry.publish_snapshot, stop)
    relay = OutboxRelay(container.engine, lambda: RabbitEventPublisher(
        rabbit.url, rabbit.exchange, registry_exchange))
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the responder declares its queue first
            try:
                connection.channel().queue_declare(requests, passive=True)
                break
            except pika.exceptions.ChannelClosedByBroker:
                time.sleep(0.1)
        channel = connection.channel()
        channel.basic_publish(registry_exchange, "station-registry.snapshot-requested",
                              json.dumps({"type": "station-registry.snapshot-requested",
                                          "payload": {"gateway_instance": "gw-7"}}).encode())
        snapshot = None
        while snapshot is None and time.monotonic() < deadline:
            relay.relay_once()
            method, _, body = channel.basic_get(rabbit.queue, auto_ack=True)
            if method is None:
                time.sleep(0.1)
            elif json.loads(body)["payload"]["requested_by"] == "gw-7":  # (earlier ones: other
                snapshot = json.loads(body)                               # tests' requests)
        assert snapshot is not None, "no snapshot for gw-7 within 10 s"
        assert station in {s["charging_station_id"] for s in snapshot["payload"]["stations"]}
    finally:
        stop.set()
        channel = connection.channel()
        channel.queue_delete(requests)
        channel.queue_delete(f"{requests}.dead-letter")
        channel.exchange_delete(registry_exchange)
        channel.exchange_delete(f"{registry_exchange}.dead-letter")
        connection.close()


def test_a_viewer_scoped_to_a_site_sees_only_that_buildings_stations_and_charges(
        container: Container, client: TestClient, charger: Callable[..., Any]) -> None:
    azul = client.post("/sites", json={"name": "Azul"}).json()["site_id"]
    verde = client.post("/sites", json={"name": "Verde"}).json()["site_id"]
    mine, theirs = new_id(), new_id()
    for station, site in ((mine, azul), (theirs, verde)):
        client.post("/charging-stations", json={"charging_station_id": station,
                                                "security_profile": 0, "site_id": site})
        cp = charger(station_id=station)
        for event in (cp.boot(), cp.start(1, 1, 0, f"TAG-{station}"), cp.stop(1, 900)):
            envelope = parse_envelope(json.dumps(event).encode())
            ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                         translate(envelope))
    admin = TestClient(container.app(), headers=grant(container))
    manager = admin.post("/accounts", json={"email": f"m-{uuid.uuid4().hex[:6]}@azul.example",
                                            "display_name": "Síndico", "role": "viewer",
                                            "site_scope": [azul]}).json()
    key = admin.post("/api-keys", json={"name": "m", "account_id": manager["account_id"]})
    viewer = TestClient(container.app(), headers={
        "Authorization": f"Bearer {key.json()['api_key']}"})
    assert [s["id"] for s in viewer.get("/charging-stations").json()] == [mine]
    assert {c["charging_station_id"] for c in viewer.get("/charges").json()} == {mine}
    assert theirs not in viewer.get("/charges.csv").text
    assert viewer.get(f"/charging-stations/{theirs}").status_code == 404
    assert [s["site_id"] for s in viewer.get("/sites").json()] == [azul]
    assert viewer.get(f"/sites/{verde}").status_code == 404
    # a station moved into the viewer's site becomes visible without a new key
    client.patch(f"/charging-stations/{theirs}/registration", json={"site_id": azul})
    container.access_control().authenticator.refresh()
    assert {s["id"] for s in viewer.get("/charging-stations").json()} == {mine, theirs}


def refusal(station_id: str, reason: str = "unknown-station",
            at: str = "2026-12-05T12:00:00.000000Z") -> bytes:
    return json.dumps({
        "event_id": str(uuid.uuid4()), "type": "ocpp-events.security.handshake-refused",
        "schema_version": 1, "charging_station_id": station_id, "ocpp_version": None,
        "connection_id": None, "message_id": None, "action": None, "received_at": at,
        "payload": {"reason": reason, "http_status": 404, "detail": "not registered",
                    "remote_address": "10.0.0.7", "tls": False,
                    "offered_subprotocols": ["ocpp1.6"], "user_agent": None},
        "response": None}).encode()


def test_refused_unknown_ids_are_listed_once_per_refusal_and_adopted(
        container: Container, client: TestClient) -> None:
    import jsonschema

    from save_server.infrastructure.registry.admissions import apply
    from tests.support.schemas import EVENTS_DIR

    registry = container.access_control().registry
    station = new_id()
    first, second = refusal(station), refusal(station, at="2026-12-05T12:05:00.000000Z")
    schema = json.loads((EVENTS_DIR / "security.handshake-refused.schema.json").read_text())
    jsonschema.validate(json.loads(first), schema)  # what the gateway publishes
    for body in (first, second, first):  # the first one redelivered: counted once
        apply(registry, body)
    apply(registry, refusal(new_id(), reason="wrong-password"))  # not an unknown id
    apply(registry, b"not json")  # ignored
    [listed] = [u for u in client.get("/charging-stations/unknown").json()
                if u["station_id"] == station]
    assert listed["attempts"] == 2 and listed["remote_address"] == "10.0.0.7"
    assert listed["first_attempt_at"].startswith("2026-12-05T12:00")
    assert listed["last_attempt_at"].startswith("2026-12-05T12:05")
    adopted = client.post(f"/charging-stations/unknown/{station}/adopt",
                          json={"security_profile": 1})
    assert adopted.status_code == 201 and adopted.json()["password"]
    assert station not in {u["station_id"] for u in
                           client.get("/charging-stations/unknown").json()}


def test_a_station_connected_with_its_new_password_drops_the_previous_one(
        container: Container, client: TestClient, bus: ScriptedBus,
        charger: Callable[..., Any]) -> None:
    from save_server.infrastructure.registry.admissions import apply

    station = new_id()
    client.post("/charging-stations", json={"charging_station_id": station,
                                            "security_profile": 1})
    connected(container, charger, station)
    bus.answers.append(CommandAnswer(CommandOutcome.ACCEPTED, {"status": "Accepted"}))
    new = client.post(f"/charging-stations/{station}/password").json()["password"]
    assert client.get(f"/charging-stations/{station}/registration").json()[
        "password_rotation_pending"] is True
    connect = {"event_id": str(uuid.uuid4()), "type": "ocpp-events.connect",
               "charging_station_id": station, "received_at": "2026-12-05T12:00:00Z",
               "payload": {"replaced_connection_id": None, "security_profile": 1,
                           "credential": "password", "registered": True}}
    apply(container.access_control().registry, json.dumps(connect).encode())
    [only] = registry_events(container, station)[-1]["payload"]["passwords"]
    assert hashed(new, only) and only["valid_until"] is None
    assert client.get(f"/charging-stations/{station}/registration").json()[
        "password_rotation_pending"] is False


def test_a_new_password_proved_after_a_deregistration_does_not_register_it_again(
        container: Container, deregistered_after_read: Callable[[str], None]) -> None:
    from save_server.infrastructure.registry.admissions import apply

    registry = container.access_control().registry
    station = new_id()
    registry.register(station, 1, "test")
    registry.rotate_password(station, "test")
    before = station_events(container, station)
    deregistered_after_read(station)
    apply(registry, json.dumps({
        "event_id": str(uuid.uuid4()), "type": "ocpp-events.connect",
        "charging_station_id": station, "received_at": "2026-12-05T12:00:00Z",
        "payload": {"replaced_connection_id": None, "security_profile": 1,
                    "credential": "password", "registered": True}}).encode())
    assert not is_registered(container, station)
    assert station_events(container, station) == before + DEREGISTERED


def test_a_connection_admitted_on_the_old_password_keeps_it_after_the_rotation(
        container: Container, client: TestClient, bus: ScriptedBus,
        charger: Callable[..., Any]) -> None:
    """The connect event of a connection made before the rotation (or on a gateway that had not
    yet learnt of it) says `credential: password` but names the old hash's salt: applied after
    the rotation, it must not drop the password the station actually used."""
    from save_server.infrastructure.registry.admissions import apply

    station = new_id()
    client.post("/charging-stations", json={"charging_station_id": station,
                                            "security_profile": 1})
    connected(container, charger, station)
    bus.answers.append(CommandAnswer(CommandOutcome.ACCEPTED, {"status": "Accepted"}))
    client.post(f"/charging-stations/{station}/password")
    current, previous = registry_events(container, station)[-1]["payload"]["passwords"]

    def connect_with(salt: str) -> None:
        apply(container.access_control().registry, json.dumps({
            "event_id": str(uuid.uuid4()), "type": "ocpp-events.connect",
            "charging_station_id": station, "received_at": "2026-12-05T12:00:00Z",
            "payload": {"replaced_connection_id": None, "security_profile": 1,
                        "credential": "password", "password_salt": salt,
                        "registered": True}}).encode())

    connect_with(previous["salt"])
    assert client.get(f"/charging-stations/{station}/registration").json()[
        "password_rotation_pending"] is True
    assert len(registry_events(container, station)[-1]["payload"]["passwords"]) == 2
    connect_with(current["salt"])
    [only] = registry_events(container, station)[-1]["payload"]["passwords"]
    assert only["salt"] == current["salt"] and only["valid_until"] is None


def test_a_stations_own_security_events_show_newest_first(
        container: Container, client: TestClient) -> None:
    from save_server.infrastructure.registry.admissions import apply

    station = new_id()
    reports = [{"event_id": str(uuid.uuid4()), "type": "ocpp-events.security-event-notification",
                "charging_station_id": station, "received_at": "2026-12-05T12:00:00Z",
                "payload": {"type": kind, "timestamp": at, "techInfo": info}}
               for kind, at, info in (("FirmwareUpdated", "2026-12-05T10:00:00Z", None),
                                      ("SettingSystemTime", "2026-12-05T11:00:00Z", "NTP"))]
    for report in (*reports, reports[0]):  # a redelivery is kept once
        apply(container.access_control().registry, json.dumps(report).encode())
    listed = client.get(f"/charging-stations/{station}/security-events").json()
    assert [(e["type"], e["tech_info"]) for e in listed] == [
        ("SettingSystemTime", "NTP"), ("FirmwareUpdated", None)]
    viewer = TestClient(container.app(), headers=grant(container, "viewer", ["OTHER"]))
    assert viewer.get(f"/charging-stations/{station}/security-events").status_code == 404


def test_every_audit_event_of_the_registry_follows_the_business_event_schema(
        container: Container, client: TestClient) -> None:
    from tests.support.schemas import business_event_validator

    site = client.post("/sites", json={"name": "Schema"}).json()["site_id"]
    station = new_id()
    password = client.post("/charging-stations", json={
        "charging_station_id": station, "security_profile": 1, "site_id": site}).json()["password"]
    client.patch(f"/charging-stations/{station}/registration", json={"enabled": False})
    client.delete(f"/charging-stations/{station}")
    client.delete(f"/sites/{site}")
    with container.engine.connect() as db:
        bodies = db.execute(select(outbox_events.c.body).where(
            outbox_events.c.routing_key.like("registry.%")
            | outbox_events.c.routing_key.like("sites.%"))).scalars().all()
    events = [json.loads(b) for b in bodies]
    mine = [e for e in events if e["charging_station_id"] == station
            or e["payload"].get("site_id") == site]
    assert {e["type"] for e in mine} >= {"sites.site-created", "registry.station-registered",
                                         "registry.station-updated",
                                         "registry.station-deregistered", "sites.site-deleted"}
    validate = business_event_validator()
    for event in mine:
        validate(event)
        # the registration travels whole (a replay rebuilds it), its password only as the
        # salted hash the gateways hold: never in clear
        assert password not in json.dumps(event)
        for stored in event["payload"].get("passwords", []):
            assert set(stored) == {"algorithm", "salt", "hash", "valid_until"}
            assert stored["algorithm"] == "sha256-salted"
    assert any(e["payload"].get("passwords") for e in mine)
