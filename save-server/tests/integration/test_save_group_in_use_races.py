"""A group deletion and a site's load-management settings naming that group, at the same time:
whichever commits first wins and the other is refused, on SQLite and PostgreSQL. One side is
held open mid-transaction on a connection of its own while the other runs in a thread."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, delete, text

from save_server.bootstrap import Container
from save_server.domain.business_events import BusinessEvent
from save_server.domain.id_tags import GroupInUse, IdTagGroup
from save_server.domain.load.model import ElectricalModel, InvalidElectricalModel, Supply
from save_server.domain.registry import Site
from save_server.infrastructure.id_tags.store import SqlIdTagStore
from save_server.infrastructure.id_tags.tables import id_tag_groups
from save_server.infrastructure.load.store import SqlLoadStore, _put_model, _require_groups
from save_server.infrastructure.registry.store import SqlRegistryStore

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def event(kind: str) -> BusinessEvent:
    return BusinessEvent(kind, {}, "tester", event_id=str(uuid.uuid4()), occurred_at=T0)


class Background:
    """`call` in a thread; `outcome()` is what it returned or raised."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._result: list[Any] = []
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._result.append(call())
        except Exception as error:  # handed to the test
            self._result.append(error)

    def done(self) -> bool:
        return not self._thread.is_alive()

    def outcome(self) -> Any:
        self._thread.join(30)
        assert not self._thread.is_alive(), "still blocked after the other side committed"
        return self._result[0]


def wait_until_blocked(container: Container, background: Background) -> None:
    """Until the thread waits for the held transaction's lock (or has finished: the code under
    test did not wait, and the test then sees the result of that)."""
    deadline = time.monotonic() + 10
    while not background.done() and time.monotonic() < deadline:
        if container.engine.dialect.name == "postgresql":
            with container.engine.connect() as db:
                if db.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND wait_event_type = 'Lock'")).scalar_one():
                    return
        else:  # SQLite says nothing about a connection waiting for its write lock
            time.sleep(0.5)
            return
        time.sleep(0.02)


@pytest.fixture
def setting(container: Container) -> tuple[str, ElectricalModel]:
    """A group and a site whose load-management settings would name it (not saved yet)."""
    group_id, site_id = f"G{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    SqlIdTagStore(container.engine).save_group(IdTagGroup(group_id, "Apto"),
                                               event("id-tags.group-created"))
    SqlRegistryStore(container.engine).add_site(Site(site_id, "Torre A"),
                                                event("registry.site-created"))
    return group_id, ElectricalModel(site_id, Supply.THREE_PHASE, 220.0, 63.0,
                                     group_priorities=((group_id, 3),))


def held(container: Container, step: Callable[[Connection], None],
         other: Callable[[], Any]) -> Any:
    """`step` in a transaction kept open while `other` runs; commit; what `other` ended in."""
    with container.engine.connect() as db:
        db.begin()
        step(db)
        background = Background(other)
        wait_until_blocked(container, background)
        db.commit()
    return background.outcome()


def test_settings_saved_while_their_group_is_being_deleted_are_refused(
        container: Container, setting: tuple[str, ElectricalModel]) -> None:
    group_id, model = setting
    store = SqlLoadStore(container.engine)
    outcome = held(container, lambda db: db.execute(delete(id_tag_groups).where(
        id_tag_groups.c.group_id == group_id)),
        lambda: store.save_model(model, event("load-management.electrical-model-set")))
    assert isinstance(outcome, InvalidElectricalModel), outcome
    assert store.model(model.site_id) is None


def test_a_group_deleted_while_settings_naming_it_are_being_saved_is_kept(
        container: Container, setting: tuple[str, ElectricalModel]) -> None:
    group_id, model = setting
    groups = SqlIdTagStore(container.engine)

    def mid_save(db: Connection) -> None:  # SqlLoadStore.save_model's steps, before commit
        _put_model(db, model, T0)
        _require_groups(db, model)

    outcome = held(container, mid_save,
                   lambda: groups.delete_group(group_id, event("id-tags.group-deleted")))
    assert isinstance(outcome, GroupInUse), outcome
    assert model.site_id in str(outcome)
    assert groups.group(group_id) is not None
