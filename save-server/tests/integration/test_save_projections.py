"""save-server's own business events rebuild what its APIs wrote: accounts (password hashes,
API keys, ended sessions), report subscriptions, sites, station registrations and the command
history. Live, the
API's own event is already applied (recorded in the change's transaction); replayed into an
empty database, the events give back the same rows; redelivered, they change nothing."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.domain.access import Principal, Role
from save_server.domain.id_tags import IdTag, IdTagGroup, TagStatus, token_key
from save_server.domain.reports import ReportWindow, RunState, RunTrigger
from save_server.domain.station_commands import CommandOutcome, CommandRecord
from save_server.infrastructure.accounts.tables import accounts, api_keys, sign_in_sessions
from save_server.infrastructure.commands.repository import SqlCommandLog
from save_server.infrastructure.commands.tables import station_commands
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.db.tables import processed_events
from save_server.infrastructure.id_tags.tables import id_tag_groups, id_tags
from save_server.infrastructure.outbox.tables import outbox_events
from save_server.infrastructure.registry.tables import (
    registry_revision,
    sites,
    station_registrations,
)
from save_server.infrastructure.reports.repositories import SqlReportRunRepository
from save_server.infrastructure.reports.tables import report_runs, report_subscriptions
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from tests.support.schemas import business_event_validator

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


@pytest.fixture
def empty_database(request: pytest.FixtureRequest, database_url: str, tmp_path: Path,
                   postgres_database: Callable[..., Any]) -> Iterator[str]:
    """Another database of the same kind as `database_url`, migrated and empty."""
    with contextlib.ExitStack() as stack:
        if database_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}"
        else:
            url = stack.enter_context(postgres_database("save_server_rebuilt"))
        migrate(url)
        yield url


@pytest.fixture
def rebuilt(empty_database: str, tmp_path: Path) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=empty_database, data_dir=tmp_path / "rebuilt"))
    yield built
    built.close()


def last_seq(container: Container) -> int:
    with container.engine.connect() as db:
        return int(db.execute(select(func.max(outbox_events.c.seq))).scalar() or 0)


def bodies_since(container: Container, seq: int) -> list[bytes]:
    """What the relay publishes, in outbox order (save-server's own events only)."""
    with container.engine.connect() as db:
        return list(db.execute(select(outbox_events.c.body).where(
            outbox_events.c.seq > seq, ~outbox_events.c.routing_key.like("station-registry.%"),
            ~outbox_events.c.routing_key.like("id-tag-registry.%"))
            .order_by(outbox_events.c.seq)).scalars())


def deliver(container: Container, bodies: list[bytes]) -> list[bool]:
    """Each event as the worker applies it: parsed, translated, ingested once by its id."""
    applied = []
    for body in bodies:
        event = parse_envelope(body)
        applied.append(ingest_event(container.uow_factory, str(event.event_id), event.type,
                                    translate(event)))
    return applied


def history(container: Container) -> dict[str, Any]:
    """Every kind of change save-server's APIs make, through their use cases."""
    access = container.access_control()
    service, registry = access.accounts, access.registry
    admin = service.create_account(f"admin-{uuid.uuid4().hex[:6]}@test.example", "Admin",
                                   Role.ADMIN, None, by="test")
    caller = Principal(admin.account_id, admin.email, Role.ADMIN, None, "test")
    viewer = service.create_account(f"viewer-{uuid.uuid4().hex[:6]}@test.example", "Vi",
                                    Role.VIEWER, PASSWORD, ["CP-1"], by="test")
    service.update_account(viewer.account_id, {"display_name": "Viewer", "role": Role.OPERATOR,
                                               "station_scope": None}, by="test")
    key = service.create_api_key(caller, viewer.account_id, "script", Role.OPERATOR, None)
    revoked = service.create_api_key(caller, viewer.account_id, "old", Role.VIEWER, None)
    service.revoke_api_key(revoked.key.key_id, by="test")
    gone = service.create_account(f"gone-{uuid.uuid4().hex[:6]}@test.example", "Gone",
                                  Role.VIEWER, PASSWORD, by="test")
    service.create_api_key(caller, gone.account_id, "gone", Role.VIEWER, None)
    service.delete_account(gone.account_id, by="test")
    tokens = access.sign_in.login(viewer.email, PASSWORD, "192.0.2.1")
    access.sign_in.logout(tokens.refresh_token.partition(".")[0], by=viewer.email)
    access.sign_in.login(viewer.email, PASSWORD, "192.0.2.1")

    reports = container.report_service()
    kept = reports.create_subscription(["ops@test.example"], station_ids=["CP-1"], by="test")
    reports.update_subscription(kept.id, by="test", recipients=["ops@test.example",
                                                                "boss@test.example"])
    runs = SqlReportRunRepository(container.engine, container.statements)
    window = ReportWindow(datetime(2026, 11, 29, 3, tzinfo=UTC), datetime(2026, 12, 6, 3,
                                                                          tzinfo=UTC))
    now = datetime.now(UTC)
    run = runs.claim(kept.id, window, RunTrigger.SCHEDULE, now, "test", timedelta(minutes=5))
    assert run is not None and run.id is not None
    runs.finish(run.id, RunState.SENT, now, charge_count=3)
    dropped = reports.create_subscription(["x@test.example"], by="test")
    given_up = runs.claim(dropped.id, window, RunTrigger.OPERATOR, now, "test", timedelta(1))
    assert given_up is not None and given_up.id is not None
    runs.finish(given_up.id, RunState.FAILED, now)
    reports.delete_subscription(dropped.id, by="test")

    site = registry.create_site("Depot", "test", address="Rua 1", timezone="Europe/Lisbon")
    registry.update_site(site.site_id, {"name": "Depot North"}, "test")
    old_site = registry.create_site("Old", "test")
    registry.delete_site(old_site.site_id, "test")
    station = f"PRJ-{uuid.uuid4().hex[:8]}"
    registry.register(station, 1, "test", site_id=site.site_id, name="Bay 1")
    registry.update(station, {"ocpp_version": "1.6"}, "test")
    rotated = registry.rotate_password(station, "test")
    registry.drop_previous_password(station)
    retired = f"PRJ-{uuid.uuid4().hex[:8]}"
    registry.register(retired, 2, "test")
    registry.deregister(retired, "test")

    commands = SqlCommandLog(container.engine, container.statements)
    sent = datetime(2026, 12, 5, 12, 0, 0, 123456, tzinfo=UTC)
    answered = CommandRecord(str(uuid.uuid4()), station, "reset", {"type": "soft"},
                             "admin (api-key:1)", sent, CommandOutcome.ACCEPTED,
                             sent + timedelta(milliseconds=187), {"status": "Accepted"},
                             latency_ms=187.4, ocpp_version="1.6", action="Reset")
    unanswered = CommandRecord(str(uuid.uuid4()), station, "unlock-connector",
                               {"connector_id": 1}, "admin (api-key:1)", sent,
                               CommandOutcome.NOT_CONNECTED)
    commands.add(answered)
    commands.add(unanswered)

    tags = container.id_tags()
    group = f"APT{uuid.uuid4().hex[:6]}"
    tags.create_group(IdTagGroup(group, "Apto 302", 150.0), "test")
    tags.update_group(group, {"label": "Apto 302 (Bloco B)"}, "test")
    reports.update_subscription(kept.id, by="test", groups=[group], group_usage=True)
    card = f"CARD{uuid.uuid4().hex[:8]}"
    tags.create_tag(IdTag(card, group_id=group, holder="Maria", site_ids=(site.site_id,)),
                    "test")
    tags.update_tag(card, {"status": TagStatus.BLOCKED}, "test")
    lost = f"LOST{uuid.uuid4().hex[:8]}"
    tags.create_tag(IdTag(lost, token_type="ISO14443"), "test")
    tags.delete_tag(lost, "test")
    return {"commands": {answered.command_id, unanswered.command_id},
            "id_tags": {token_key(card), token_key(lost)}, "groups": {group},
            "accounts": {admin.account_id, viewer.account_id, gone.account_id},
            "subscriptions": {kept.id, dropped.id}, "sites": {site.site_id, old_site.site_id},
            "stations": {station, retired}, "viewer": viewer, "key": key.secret,
            "station_password": rotated.password, "station": station}


def rows(engine: Engine, ids: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The rows the history wrote, table by table, every column (except what docs/architecture
    says is not rebuilt: live sessions and their refresh digests)."""
    def select_rows(query: Any) -> list[dict[str, Any]]:
        with engine.connect() as db:
            return [dict(r) for r in db.execute(query).mappings()]
    ended = sign_in_sessions.c
    return {
        "accounts": select_rows(select(accounts).where(accounts.c.account_id.in_(
            ids["accounts"])).order_by(accounts.c.account_id)),
        "api_keys": select_rows(select(api_keys).where(api_keys.c.account_id.in_(
            ids["accounts"])).order_by(api_keys.c.key_id)),
        "ended_sessions": select_rows(select(ended.session_id, ended.account_id,
                                             ended.expires_at, ended.ended_at).where(
            ended.account_id.in_(ids["accounts"]), ended.ended_at.is_not(None))),
        "subscriptions": select_rows(select(report_subscriptions).where(
            report_subscriptions.c.id.in_(ids["subscriptions"]))),
        "sites": select_rows(select(sites).where(sites.c.site_id.in_(ids["sites"]))),
        "registrations": select_rows(select(station_registrations).where(
            station_registrations.c.station_id.in_(ids["stations"]))),
        "report_runs": select_rows(select(report_runs).where(
            report_runs.c.subscription_id.in_(ids["subscriptions"]))),
        "commands": select_rows(select(station_commands).where(
            station_commands.c.command_id.in_(ids["commands"])).order_by(
            station_commands.c.command_id)),
        "id_tags": select_rows(select(id_tags).where(id_tags.c.token_key.in_(ids["id_tags"]))),
        "id_tag_groups": select_rows(select(id_tag_groups).where(
            id_tag_groups.c.group_id.in_(ids["groups"]))),
    }


def test_a_replay_into_an_empty_database_rebuilds_what_the_apis_wrote(
        container: Container, rebuilt: Container) -> None:
    before_seq = last_seq(container)
    ids = history(container)
    bodies = bodies_since(container, before_seq)
    types = {json.loads(b)["type"] for b in bodies}
    assert {"accounts.account-created", "accounts.account-updated", "accounts.account-deleted",
            "accounts.api-key-created", "accounts.api-key-revoked", "accounts.signed-in",
            "accounts.signed-out", "reports.subscription-created",
            "reports.subscription-updated", "reports.subscription-deleted",
            "reports.run-finished",
            "sites.site-created", "sites.site-updated", "sites.site-deleted",
            "registry.station-registered", "registry.station-updated",
            "registry.password-rotated", "registry.previous-password-dropped",
            "registry.station-deregistered", "commands.command-recorded",
            "id-tags.group-created", "id-tags.group-updated", "id-tags.tag-created",
            "id-tags.tag-updated", "id-tags.tag-deleted"} <= types
    validate = business_event_validator()
    for body in bodies:
        validate(json.loads(body))
    expected = rows(container.engine, ids)
    assert all(expected.values()) and len(expected["commands"]) == 2

    # live: the API's own events were recorded as applied with the change
    assert deliver(container, bodies) == [False] * len(bodies)
    assert rows(container.engine, ids) == expected

    assert deliver(rebuilt, bodies) == [True] * len(bodies)
    assert rows(rebuilt.engine, ids) == expected
    # redelivered (or replayed again): duplicates, nothing changes
    assert deliver(rebuilt, bodies) == [False] * len(bodies)
    assert rows(rebuilt.engine, ids) == expected

    # what the rows are for still works: sign-in with the same password, the same API key
    rebuilt.access_control().authenticator.refresh(force=True)
    signed_in = rebuilt.access_control().sign_in.login(ids["viewer"].email, PASSWORD, "x")
    assert signed_in.account.account_id == ids["viewer"].account_id
    client = TestClient(rebuilt.app(), headers={"Authorization": f"Bearer {ids['key']}"})
    answer = client.get(f"/charging-stations/{ids['station']}/registration")
    assert answer.status_code == 200, answer.text
    [registration] = [r for r in expected["registrations"] if r["station_id"] == ids["station"]]
    assert answer.json()["revision"] == registration["revision"]
    # secrets travel as the hashes save-server stores: the station's current password
    # verifies against the rebuilt registration, and no password is in any event
    assert not any(ids["station_password"].encode() in body for body in bodies)
    assert not any(PASSWORD.encode() in body for body in bodies)
    rebuilt_station = rebuilt.access_control().registry.get_registration(ids["station"])
    assert [p.matches(ids["station_password"]) for p in rebuilt_station.passwords] == [True]
    # the registry's counter is past every revision the gateways hold
    with rebuilt.engine.connect() as db:
        counter = db.execute(select(registry_revision.c.revision)).scalar_one()
    with container.engine.connect() as db:
        assert counter == db.execute(select(registry_revision.c.revision)).scalar_one()
    # the next new id is the one the original database would give (PostgreSQL's sequence
    # follows the replayed ids; SQLite reuses a deleted last id in both)
    fresh = rebuilt.report_service().create_subscription(["new@test.example"], by="test")
    original = container.report_service().create_subscription(["new@test.example"], by="t")
    assert fresh.id == original.id >= max(ids["subscriptions"])


def test_a_first_start_admin_made_before_the_replay_gives_way_to_the_history(
        container: Container, rebuilt: Container) -> None:
    """An e-mail names one account: the account created first keeps it. The admin that
    save-server made on the empty database (before the replay) is dropped, its key passing to
    the history's account (the key file written at that start keeps working); its own
    events, replayed later, change nothing."""
    service = container.access_control().accounts
    before_seq = last_seq(container)
    email = f"first-{uuid.uuid4().hex[:6]}@test.example"
    original = service.create_account(email, "Administrator", Role.ADMIN, PASSWORD, by="setup")
    history_bodies = bodies_since(container, before_seq)

    placeholder = rebuilt.access_control().accounts.create_account(
        email, "Administrator", Role.ADMIN, None, by="setup")
    setup = Principal(placeholder.account_id, email, Role.ADMIN, None, "setup")
    first_key = rebuilt.access_control().accounts.create_api_key(
        setup, placeholder.account_id, "first", Role.ADMIN, None).key
    placeholder_bodies = bodies_since(rebuilt, 0)

    deliver(rebuilt, history_bodies)
    with rebuilt.engine.connect() as db:
        held = db.execute(select(accounts.c.account_id).where(accounts.c.email == email)).all()
        keys = db.execute(select(api_keys.c.key_id, api_keys.c.account_id)).all()
        gone = db.execute(select(accounts).where(
            accounts.c.account_id == placeholder.account_id)).all()
    assert held == [(original.account_id,)] and gone == []
    assert keys == [(first_key.key_id, original.account_id)]
    assert deliver(rebuilt, placeholder_bodies) == [False] * len(placeholder_bodies)
    # a later rebuild replays the placeholder's events too, after the history's: they find
    # the e-mail held by the older account and its key no account, and change nothing
    with container.engine.connect() as db:
        before = db.execute(select(accounts).where(accounts.c.email == email)).all()
    assert deliver(container, placeholder_bodies) == [True] * len(placeholder_bodies)
    with container.engine.connect() as db:
        assert db.execute(select(accounts).where(accounts.c.email == email)).all() == before
        assert db.execute(select(api_keys).where(
            api_keys.c.key_id == first_key.key_id)).all() == []


def test_a_default_subscription_made_before_the_replay_gives_way_to_the_history(
        rebuilt: Container) -> None:
    """The empty database's start made its REPORT_DEFAULT_RECIPIENTS subscription under an id
    the history uses: the subscription created first keeps the id."""
    reports = rebuilt.report_service()
    placeholder = reports.create_subscription(["default@test.example"], by="setup")
    [placeholder_body] = [b for b in bodies_since(rebuilt, 0)
                          if b"reports.subscription-created" in b]
    earlier = {"event_id": str(uuid.uuid4()), "type": "reports.subscription-created",
               "schema_version": 1, "charging_station_id": None,
               "received_at": "2026-01-01T00:00:00Z", "principal": "test",
               "payload": {"id": placeholder.id, "recipients": ["history@test.example"],
                           "schedule": "0 3 * * *", "timezone": "UTC", "station_ids": [],
                           "id_tags": [], "enabled": True, "origin": "api",
                           "created_at": "2026-01-01T00:00:00Z",
                           "updated_at": "2026-01-01T00:00:00Z"}}
    assert deliver(rebuilt, [json.dumps(earlier).encode()]) == [True]
    kept = reports.get_subscription(placeholder.id)
    assert kept.recipients == ("history@test.example",) and kept.origin.value == "api"
    # a later rebuild brings the placeholder's creation after the history's: it changes nothing
    again = {**json.loads(placeholder_body), "event_id": str(uuid.uuid4())}
    assert deliver(rebuilt, [json.dumps(again).encode()]) == [True]
    assert reports.get_subscription(placeholder.id) == kept


def test_an_event_of_a_projected_type_without_what_it_needs_is_poison(
        rebuilt: Container) -> None:
    event = {"event_id": str(uuid.uuid4()), "type": "registry.station-registered",
             "schema_version": 1, "charging_station_id": "CP-1",
             "received_at": "2026-12-05T12:00:00Z", "principal": "test",
             "payload": {"charging_station_id": "CP-1", "revision": "seven"}}
    body = json.dumps(event).encode()
    with pytest.raises(ValueError, match="revision"):
        deliver(rebuilt, [body])
    with rebuilt.engine.connect() as db:  # nothing half-written
        assert db.execute(select(station_registrations).where(
            station_registrations.c.station_id == "CP-1")).first() is None


def ids_far_from_other_tests(engine: Engine) -> None:
    """A subscription and a run with random high ids: the ones the history makes follow them."""
    base = 10_000_000 + uuid.uuid4().int % 10_000_000
    now = datetime.now(UTC)
    with engine.begin() as db:
        db.execute(report_subscriptions.insert().values(
            id=base, recipients=[], schedule="0 3 * * *", timezone="UTC", station_ids=[],
            id_tags=[], enabled=False, origin="api", created_at=now, updated_at=now))
        db.execute(report_runs.insert().values(
            id=base, subscription_id=base, window_start=now, window_end=now,
            trigger="schedule", state="sent", attempts=1, created_at=now, updated_at=now))


def test_through_the_broker_twice_the_worker_rebuilds_the_same_rows(
        pipeline: Any, tmp_path: Path) -> None:
    """The worker, fed by the broker (in-process + SQLite, RabbitMQ + PostgreSQL), applies
    save-server's own events once: everything sent twice, as a redelivery or a second replay
    would, gives the rows of the original database."""
    source_url = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    migrate(source_url)
    source = bootstrap(Settings(database_url=source_url, data_dir=tmp_path / "source"))
    try:
        ids_far_from_other_tests(source.engine)  # the pipeline's PostgreSQL is shared
        ids = history(source)
        events = [json.loads(body) for body in bodies_since(source, 0)]
        expected = rows(source.engine, ids)
    finally:
        source.close()
    pipeline.send(*events)
    pipeline.send_to_queue(*events)  # the replay's way, past the bindings
    pipeline.settle()
    assert rows(pipeline.container.engine, ids) == expected
    with pipeline.container.engine.connect() as db:
        applied = db.execute(select(func.count()).select_from(processed_events).where(
            processed_events.c.event_id.in_([e["event_id"] for e in events]))).scalar_one()
    assert applied == len(events)
