"""A replay of every event type rebuilds what the live bindings built: save-server applies only
the types its queue is bound to (one list, HANDLED_TYPES), whichever way the events come."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from csms_embedded.broker import InProcessBroker
from save_server.infrastructure import metrics
from save_server.infrastructure.messaging.embedded import EmbeddedEventStream
from save_server.infrastructure.messaging.worker import EventWorker
from save_server.infrastructure.translation import HANDLED_TYPES, handles
from save_server.infrastructure.translation.envelope import BUSINESS_TYPES

EVENTS_DIR = Path(__file__).resolve().parents[3] / "docs" / "events"
EXCHANGE, QUEUE = "ocpp-events", "save-server"
PLACEHOLDER = "x"


# Schemas that other schemas build on: not event types of their own.
SHARED = {"envelope.schema.json", "station-registry.envelope.schema.json",
          "station-registry.station.schema.json", "id-tag-registry.envelope.schema.json",
          "id-tag-registry.tag.schema.json"}


def schemas() -> dict[str, dict[str, Any]]:
    """Every published event schema by file name."""
    return {path.name: json.loads(path.read_text())
            for path in sorted(EVENTS_DIR.glob("*.schema.json")) if path.name not in SHARED}


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    resources = []
    for path in EVENTS_DIR.glob("*.schema.json"):
        contents = json.loads(path.read_text())
        resources += [(contents["$id"], Resource.from_contents(contents)),
                      (path.name, Resource.from_contents(contents))]
    return jsonschema.Draft202012Validator(
        schema, registry=Registry().with_resources(resources),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def command_events(schema: dict[str, Any], cp: Any) -> list[dict[str, Any]]:
    """One `ocpp-commands.<command>` event per command of the remote-command schema."""
    events = []
    for event_type in schema["properties"]["type"]["enum"]:
        event = cp.event("unused", None, {}, None)
        event["type"] = event_type
        event["command"] = {
            "command_id": str(uuid.uuid4()), "name": event_type.split(".", 1)[1],
            "parameters": {}, "requested_by": None, "sent_at": event["received_at"],
            "outcome": "timeout", "error_code": None, "error_description": None,
            "latency_ms": 0, "gateway_instance": "gw-1"}
        events.append(event)
    return events


def business_event(cp: Any) -> dict[str, Any]:
    """A business event of a family save-server does not apply (the event-store's record of
    a replay; save-server's own families are bound, infrastructure/projections)."""
    return {"event_id": str(uuid.uuid4()), "type": "event-store.replay-started",
            "schema_version": 1, "charging_station_id": None,
            "received_at": cp.event("unused", None, {}, None)["received_at"],
            "principal": "admin@save.example (api-key:1)",
            "payload": {"replay_id": str(uuid.uuid4()), "target": QUEUE}}


def load_management_events(schema: dict[str, Any], cp: Any) -> list[dict[str, Any]]:
    """Site load management's events (save-server's outbox; its own queue applies them)."""
    at = cp.event("unused", None, {}, None)["received_at"]
    payloads = {
        "load-management.electrical-model-set": {
            "site_id": "s1", "supply": "three-phase", "voltage_v": 220, "limit_a": 63,
            "margin": 0.05, "building_metered": False, "measurement_max_age_s": 300,
            "building_fallback_a": None, "circuits": [], "connectors": []},
        "load-management.measurement-recorded": {"site_id": "s1", "per_phase_a": {"L1": 3},
                                                 "measured_at": at},
        "load-management.allocation": {
            "site_id": "s1", "computed_at": at, "connectors": [], "queue": [],
            "building_a": {"L1": 0}, "building_source": "none", "available_a": {"L1": 60},
            "overloaded": []}}
    assert set(payloads) == set(schema["properties"]["type"]["enum"])
    return [{"event_id": str(uuid.uuid4()), "type": kind, "schema_version": 1,
             "charging_station_id": None, "received_at": at, "principal": "load-management",
             "payload": payload} for kind, payload in payloads.items()]


def handshake_refused(cp: Any) -> dict[str, Any]:
    event = cp.event("security.handshake-refused", None, {
        "reason": "wrong-password", "http_status": 401, "detail": "wrong password",
        "remote_address": "192.0.2.1", "tls": True, "offered_subprotocols": ["ocpp1.6"],
        "user_agent": None}, None)
    event.update(ocpp_version=None, connection_id=None)
    return event


def registry_events(cp: Any) -> list[dict[str, Any]]:
    """The station registry's events (its own exchange; the event-store keeps them too)."""
    station = {"charging_station_id": cp.station_id, "security_profile": 1, "enabled": True,
               "ocpp_version": "1.6", "passwords": [], "certificate": {"organization": None}}
    payloads = {"station-registered": station, "station-updated": station,
                "password-changed": station, "station-deregistered": {},
                "snapshot": {"requested_by": "gw-1", "stations": [{**station, "revision": 3}]},
                "snapshot-requested": {"gateway_instance": "gw-1"}}
    events = []
    for name, payload in payloads.items():
        whole = name.startswith("snapshot")
        events.append({
            "event_id": str(uuid.uuid4()), "type": f"station-registry.{name}",
            "schema_version": 1, "charging_station_id": None if whole else cp.station_id,
            "received_at": cp.event("unused", None, {}, None)["received_at"], "revision": 3,
            "payload": payload})
    return events


def id_tag_registry_events(cp: Any) -> list[dict[str, Any]]:
    """The id tag registry's events (the registry exchange, like the station registry's)."""
    tag = {"id_tag": "CARD-1", "token_type": None, "group_id": None, "status": "active",
           "expires_at": None, "site_ids": None, "station_ids": None,
           "max_concurrent_charges": 1, "budget_exhausted": False}
    active = {"id_tag": "CARD-1", "charges": [{"charging_station_id": cp.station_id,
                                               "transaction_id": "7"}]}
    payloads = {"tag-updated": tag, "tag-removed": {"id_tag": "CARD-1"},
                "active-charges": active,
                "snapshot": {"requested_by": "gw-1", "tags": [{**tag, "revision": 3}],
                             "active_charges": [{**active, "revision": 3}]},
                "snapshot-requested": {"gateway_instance": "gw-1"}}
    return [{"event_id": str(uuid.uuid4()), "type": f"id-tag-registry.{name}",
             "schema_version": 1, "charging_station_id": None,
             "received_at": cp.event("unused", None, {}, None)["received_at"], "revision": 3,
             "payload": payload} for name, payload in payloads.items()]


def ocpp_event(schema: dict[str, Any], cp: Any) -> dict[str, Any]:
    """An OCPP call's event from its schema: the payload's required fields filled in."""
    own = schema["allOf"][1]["properties"]
    payload_rule = own["payload"]
    required = (payload_rule.get("oneOf") or [payload_rule])[0].get("required", [])
    payload: dict[str, Any] = {key: PLACEHOLDER for key in required}
    for key, rule in payload_rule.get("properties", {}).items():
        if key in payload and "string" not in str(rule.get("type")):
            payload[key] = None
    action = own["action"].get("const")
    event = cp.event(own["type"]["const"].removeprefix("ocpp-events."), action, payload, {})
    if action is None:
        event["response"] = None
    return event


def example_events(name: str, schema: dict[str, Any], cp: Any) -> list[dict[str, Any]]:
    """Events valid against the schema `name`, later than everything `cp` sent before; a new
    family of schemas needs its example here (the tests below fail on a schema without one)."""
    if name == "ocpp-commands.schema.json":
        return command_events(schema, cp)
    if name == "business-event.schema.json":
        return [business_event(cp)]
    if name == "security.handshake-refused.schema.json":
        return [handshake_refused(cp)]
    if name == "load-management.schema.json":
        return load_management_events(schema, cp)
    if name.startswith("station-registry."):
        return [e for e in registry_events(cp) if name == f"{e['type']}.schema.json"]
    if name.startswith("id-tag-registry."):
        return [e for e in id_tag_registry_events(cp) if name == f"{e['type']}.schema.json"]
    return [ocpp_event(schema, cp)]


def unbound_types_after(cp: Any) -> list[dict[str, Any]]:
    """One event of every published type outside the queue's bindings, valid per its schema
    (the bound types come from `a_day`, with payloads that make sense)."""
    events = []
    for name, schema in schemas().items():
        examples = example_events(name, schema, cp)
        assert examples, f"no example event for {name}"
        for event in examples:
            validator(schema).validate(event)
            if not handles(event["type"]):
                events.append(event)
    return events


def a_day(cp: Any) -> list[dict[str, Any]]:
    """What a station says live, in 1.6 or 2.0.1: every type save-server's queue is bound to."""
    authorize = cp.event("authorize", "Authorize", {"idTag": "TAG-1"},
                         {"idTagInfo": {"status": "Accepted"}})
    if cp.version == "1.6":
        return [cp.connect(), cp.boot(), cp.status(1, "Available"), cp.heartbeat(), authorize,
                cp.start(1, 7, 1000), cp.status(1, "Charging"),
                cp.meter_values(1, [{"value": "1500"}], 7), cp.stop(7, 4000, "Local"),
                cp.status(1, "Available"), cp.disconnect()]
    return [cp.connect(), cp.boot201(), cp.status201(1, "Available"), cp.heartbeat(), authorize,
            cp.transaction201("Started", "tx-7", energy_wh=1000, id_token="TAG-1"),
            cp.status201(1, "Occupied"),
            cp.event("meter-values", "MeterValues", {"evseId": 1, "meterValue": [
                {"timestamp": "2026-11-25T08:00:30Z",
                 "sampledValue": [{"value": 230, "measurand": "Voltage"}]}]}, {}),
            cp.transaction201("Ended", "tx-7", energy_wh=4000, stopped_reason="Local"),
            cp.status201(1, "Available"), cp.disconnect()]


def drain(broker: InProcessBroker, uow_factory: Callable[[], Any]) -> None:
    stream = EmbeddedEventStream(broker, EXCHANGE, QUEUE, HANDLED_TYPES)
    worker, stop = EventWorker(lambda: stream, uow_factory, batch_size=7), threading.Event()
    while (delivery := stream.receive(0.01)) is not None:
        batch = [delivery]
        while len(batch) < 7 and (more := stream.receive(0)) is not None:
            batch.append(more)
        worker.handle_batch(stream, batch, stop)
    assert broker.depth(QUEUE) == 0 and broker.depth(f"{QUEUE}.dead-letter") == 0


def live(events: list[dict[str, Any]], uow_factory: Callable[[], Any]) -> None:
    """Published to the exchange: the queue's bindings choose what reaches the worker."""
    broker = InProcessBroker()
    EmbeddedEventStream(broker, EXCHANGE, QUEUE, HANDLED_TYPES)
    for event in events:
        broker.publish(EXCHANGE, event["type"], json.dumps(event).encode())
    drain(broker, uow_factory)


def replayed_to_the_queue(events: list[dict[str, Any]], uow_factory: Callable[[], Any]) -> None:
    """The event-store's replay with `target: save-server`: straight into the queue, every type."""
    broker = InProcessBroker()
    EmbeddedEventStream(broker, EXCHANGE, QUEUE, HANDLED_TYPES)
    for event in events:
        broker.publish_to_queue(QUEUE, event["type"], json.dumps(event).encode(),
                                headers={"charging_station_id": event["charging_station_id"],
                                         "replayed": True})
    drain(broker, uow_factory)


def test_the_bound_types_are_what_a_station_says_and_every_other_schema_is_unbound(
        charger: Callable[..., Any]) -> None:
    days = a_day(charger()) + a_day(charger(version="2.0.1"))
    # what stations say, and the operators' changes save-server applies back in a replay
    assert {event["type"] for event in days} | BUSINESS_TYPES == set(HANDLED_TYPES)
    unbound = {event["type"] for event in unbound_types_after(charger())}
    several = ("ocpp-commands.schema.json", "load-management.schema.json")  # types per file
    enumerated = {t for n in several for t in schemas()[n]["properties"]["type"]["enum"]}
    # business-event.schema.json is one file for many types; the enumerated ones count alone
    assert len(unbound) + len(HANDLED_TYPES) - len(BUSINESS_TYPES - enumerated) == len(
        schemas()) - len(several) + len(enumerated)
    assert {"ocpp-events.data-transfer", "ocpp-events.notify-report",
            "ocpp-commands.remote-start", "event-store.replay-started",
            "station-registry.snapshot", "ocpp-events.security.handshake-refused"} <= unbound


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_replay_of_every_type_to_the_queue_rebuilds_the_live_state(
        charger: Callable[..., Any], fakes: Any, version: str) -> None:
    """Every unbound type arrives after the station's last bound event: applied, any of them
    would move `last_seen_at`; ignored, live and rebuild are equal field by field."""
    cp = charger(version=version)
    events = a_day(cp) + unbound_types_after(cp)
    live_store, rebuilt_store = fakes.MemoryStore(), fakes.MemoryStore()
    live(events, lambda: fakes.MemoryUnitOfWork(live_store))
    replayed_to_the_queue(events, lambda: fakes.MemoryUnitOfWork(rebuilt_store))
    assert rebuilt_store.__dict__ == live_store.__dict__
    assert len(live_store.processed) == len(a_day(charger(version=version)))
    station = rebuilt_store.stations[cp.station_id]
    assert station.last_seen_at is not None and station.connectors[1].status is not None
    assert station.last_seen_at < min(datetime.fromisoformat(e["received_at"])
                                      for e in events if not handles(e["type"]))


def test_a_replay_after_the_live_state_changes_nothing(charger: Callable[..., Any],
                                                       fakes: Any) -> None:
    cp = charger()
    events = a_day(cp) + unbound_types_after(cp)
    store = fakes.MemoryStore()
    live(events, lambda: fakes.MemoryUnitOfWork(store))
    before = copy.deepcopy(store.__dict__)
    replayed_to_the_queue(events, lambda: fakes.MemoryUnitOfWork(store))
    assert store.__dict__ == before


def test_an_ignored_event_is_acknowledged_and_counted(charger: Callable[..., Any],
                                                      fakes: Any) -> None:
    cp = charger()
    event = cp.event("firmware-status-notification", "FirmwareStatusNotification",
                     {"status": "Installed"}, {})
    counter = metrics.EVENTS_IGNORED.labels(family="ocpp-events")
    before = counter._value.get()
    store = fakes.MemoryStore()
    replayed_to_the_queue([event], lambda: fakes.MemoryUnitOfWork(store))
    assert counter._value.get() == before + 1
    assert store.stations == {} and store.processed == set()
