"""SQLite enforces save-server's foreign keys like PostgreSQL: on every connection of the
service's engine, not while migrating (a batch migration's table rebuild would cascade), and
a database written before that loses its rows that name nothing (migration
0016_sqlite_foreign_key_orphans)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, delete, func, insert, select, update

from save_server.infrastructure.accounts.tables import (
    accounts,
    api_keys,
    credential_revision,
    sign_in_sessions,
)
from save_server.infrastructure.db.engine import (
    alembic_config,
    make_engine,
    migrate,
    sqlite_foreign_key_violations,
)
from save_server.infrastructure.id_tags.tables import id_tag_groups, id_tag_revision, id_tags
from save_server.infrastructure.registry.tables import (
    registry_revision,
    sites,
    station_registrations,
)
from save_server.infrastructure.reports.tables import report_runs, report_subscriptions

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
BEFORE = "0015_charges_id_tag_key_index"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'save-server.sqlite3'}"


@pytest.fixture
def unchecked(url: str) -> Iterator[Engine]:
    """As save-server wrote before: SQLite's default, foreign keys not enforced."""
    engine = create_engine(url)
    yield engine
    engine.dispose()


def account(account_id: str) -> dict[str, Any]:
    return {"account_id": account_id, "email": f"{account_id}@test.example",
            "display_name": account_id, "role": "viewer", "enabled": True, "created_at": T0}


def key(key_id: str, account_id: str) -> dict[str, Any]:
    return {"key_id": key_id, "account_id": account_id, "name": key_id, "role": "viewer",
            "secret_hash": "0" * 64, "created_at": T0}


def session(session_id: str, account_id: str) -> dict[str, Any]:
    return {"session_id": session_id, "account_id": account_id, "refresh_hash": "0" * 64,
            "created_at": T0, "expires_at": T0 + timedelta(hours=1)}


def subscription(subscription_id: int) -> dict[str, Any]:
    return {"id": subscription_id, "recipients": [], "schedule": "weekly", "timezone": "UTC",
            "station_ids": [], "id_tags": [], "enabled": True, "origin": "api", "groups": [],
            "group_usage": False, "created_at": T0, "updated_at": T0}


def run(subscription_id: int) -> dict[str, Any]:
    return {"subscription_id": subscription_id, "window_start": T0, "window_end": T0,
            "trigger": "schedule", "state": "sent", "attempts": 1, "created_at": T0,
            "updated_at": T0}


def registration(station_id: str, site_id: str, revision: int) -> dict[str, Any]:
    return {"station_id": station_id, "site_id": site_id, "security_profile": 1,
            "enabled": True, "passwords": [], "revision": revision, "registered_at": T0}


def tag(id_tag: str, group_id: str, revision: int) -> dict[str, Any]:
    return {"token_key": id_tag.casefold(), "id_tag": id_tag, "group_id": group_id,
            "status": "active", "max_concurrent_charges": 1, "revision": revision,
            "budget_exhausted": False, "updated_at": T0}


def plant(engine: Engine) -> None:
    """Parents and children, then some parents deleted without their children."""
    with engine.begin() as db:
        db.execute(insert(accounts), [account("kept"), account("gone")])
        db.execute(insert(api_keys), [key("kept0000000a", "kept"), key("gone0000000a", "gone")])
        db.execute(insert(sign_in_sessions), [session("s-kept", "kept"),
                                              session("s-gone", "gone")])
        db.execute(insert(report_subscriptions), [subscription(1), subscription(2)])
        db.execute(insert(report_runs), [run(1), run(2)])
        db.execute(insert(sites), [{"site_id": s, "name": s, "timezone": "UTC"}
                                   for s in ("site-kept", "site-gone")])
        db.execute(insert(station_registrations), [registration("CP-kept", "site-kept", 4),
                                                   registration("CP-gone", "site-gone", 7)])
        db.execute(insert(id_tag_groups), [{"group_id": g, "label": g}
                                           for g in ("G-kept", "G-gone")])
        db.execute(insert(id_tags), [tag("TAG-kept", "G-kept", 2), tag("TAG-gone", "G-gone", 3)])
        for counter, revision in ((registry_revision, 7), (id_tag_revision, 3),
                                  (credential_revision, 5)):
            db.execute(delete(counter))
            db.execute(insert(counter).values(id=1, revision=revision))
    with engine.begin() as db:
        db.execute(delete(accounts).where(accounts.c.account_id == "gone"))
        db.execute(delete(report_subscriptions).where(report_subscriptions.c.id == 2))
        db.execute(delete(sites).where(sites.c.site_id == "site-gone"))
        db.execute(delete(id_tag_groups).where(id_tag_groups.c.group_id == "G-gone"))


def column(engine: Engine, selected: Any) -> list[Any]:
    with engine.connect() as db:
        return sorted(db.execute(selected).scalars())


def test_the_service_engine_enforces_foreign_keys(url: str) -> None:
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as db:
        assert db.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_the_migration_settles_the_rows_written_without_foreign_keys(
        url: str, unchecked: Engine) -> None:
    migrate(url, BEFORE)
    plant(unchecked)
    with unchecked.connect() as db:
        assert len(sqlite_foreign_key_violations(db)) == 5  # one of each key
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as db:
        assert sqlite_foreign_key_violations(db) == []
    # cascaded: what the account's and the subscription's deletion would have deleted
    assert column(engine, select(api_keys.c.key_id)) == ["kept0000000a"]
    assert column(engine, select(sign_in_sessions.c.session_id)) == ["s-kept"]
    assert column(engine, select(report_runs.c.subscription_id)) == [1]
    # cleared, at a new revision of their registry (the gateways' next snapshot takes it)
    t = station_registrations.c
    with engine.connect() as db:
        stations = {r.station_id: r for r in db.execute(select(station_registrations))}
        tags = {r.id_tag: r for r in db.execute(select(id_tags))}
        counters = [db.execute(select(c.c.revision)).scalar_one()
                    for c in (registry_revision, id_tag_revision, credential_revision)]
    assert (stations["CP-kept"].site_id, stations["CP-kept"].revision) == ("site-kept", 4)
    assert (stations["CP-gone"].site_id, stations["CP-gone"].revision) == (None, 8)
    assert (tags["TAG-kept"].group_id, tags["TAG-kept"].revision) == ("G-kept", 2)
    assert (tags["TAG-gone"].group_id, tags["TAG-gone"].revision) == (None, 4)
    assert counters == [8, 4, 6]
    with engine.begin() as db:  # the cleared rows can be written again
        db.execute(update(station_registrations).where(t.station_id == "CP-gone")
                   .values(enabled=False))
    engine.dispose()


def test_a_migration_rebuilding_a_named_table_keeps_the_rows_that_name_it(url: str) -> None:
    """Downgrading 0014 rebuilds report_subscriptions (copy, drop, rename): with the keys on,
    dropping it would delete its runs (ON DELETE CASCADE). Migrations switch them off, even
    on a connection of the service's engine."""
    migrate(url)
    engine = make_engine(url)
    with engine.begin() as db:
        db.execute(insert(report_subscriptions).values(subscription(1)))
        db.execute(insert(report_runs).values(run(1)))
    config = alembic_config(url)
    with engine.connect() as db:
        config.attributes["connection"] = db
        command.downgrade(config, "0013_load_rotation_turns")
        assert db.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # given back
    assert column(engine, select(func.count()).select_from(report_runs)) == [1]
    engine.dispose()
