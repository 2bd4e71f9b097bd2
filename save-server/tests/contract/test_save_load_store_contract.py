"""One contract for the LoadStore port (load management's sites: electrical models, building
loads, the power view, allocations), run against the in-memory fake, SQLite and PostgreSQL,
so the fake the service tests and benchmarks use cannot drift from the real adapters: every
live write commits its event; the later measurement and the later model win whatever order
they come in; a replayed event applies once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from save_server.domain.business_events import BusinessEvent
from save_server.domain.id_tags import IdTagGroup
from save_server.domain.load.allocator import BuildingLoad
from save_server.domain.load.model import (
    ConnectorSupply,
    ElectricalModel,
    InvalidElectricalModel,
    Supply,
)
from save_server.domain.load.ports import AllocationRound, LoadStore
from save_server.domain.load.rotation import Turn
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.id_tags.store import SqlIdTagStore
from save_server.infrastructure.load.memory import MemoryLoadStore
from save_server.infrastructure.load.store import SqlLoadStore
from save_server.infrastructure.outbox.tables import outbox_events

pytestmark = pytest.mark.contract
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def model(site_id: str, limit_a: float = 63.0) -> ElectricalModel:
    return ElectricalModel(site_id, Supply.THREE_PHASE, 220.0, limit_a, connectors=(
        ConnectorSupply(f"CP-{site_id}", 1, ("L1", "L2", "L3")),))


def event(kind: str, payload: dict[str, Any] | None = None) -> BusinessEvent:
    return BusinessEvent(kind, payload or {}, "tester", event_id=str(uuid.uuid4()),
                         occurred_at=T0)


class LoadStoreContract:
    """Subclasses give `store` and `committed()` (the events committed, in order)."""

    store: LoadStore

    def committed(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def add_group(self, group_id: str) -> None:
        """An id tag group (the id tags context) that models may name."""
        raise NotImplementedError

    @pytest.fixture
    def site(self) -> str:
        return f"S{uuid.uuid4().hex[:8]}"

    def committed_ids(self) -> list[str]:
        return [e["event_id"] for e in self.committed()]

    def test_a_model_is_kept_with_its_event_and_replaced_by_the_next(self, site: str) -> None:
        assert self.store.model(site) is None
        first, second = event("load-management.electrical-model-set"), event(
            "load-management.electrical-model-set")
        self.store.save_model(model(site), first)
        self.store.save_model(model(site, 40.0), second)
        assert self.store.model(site) == model(site, 40.0)
        assert [m.site_id for m in self.store.models() if m.site_id == site] == [site]
        assert self.committed_ids()[-2:] == [first.event_id, second.event_id]

    def test_a_model_naming_a_group_that_is_gone_is_refused_and_nothing_kept(
            self, site: str) -> None:
        self.add_group(f"G{site}")
        kept = replace(model(site), group_priorities=((f"G{site}", 2),))
        self.store.save_model(kept, event("load-management.electrical-model-set"))
        refused = event("load-management.electrical-model-set")
        with pytest.raises(InvalidElectricalModel) as error:
            self.store.save_model(replace(kept, group_priorities=(
                (f"G{site}", 2), (f"N{site}", 1))), refused)
        assert error.value.field_name == "group_priorities"
        assert f"no id tag group 'N{site}'" in str(error.value)
        assert self.store.model(site) == kept
        assert refused.event_id not in self.committed_ids()

    def test_models_are_listed_by_site(self, site: str) -> None:
        for name in (f"{site}b", f"{site}a"):
            self.store.save_model(model(name), event("load-management.electrical-model-set"))
        listed = [m.site_id for m in self.store.models() if m.site_id.startswith(site)]
        assert listed == [f"{site}a", f"{site}b"]

    def test_the_later_measurement_wins_whatever_order_they_come_in(self, site: str) -> None:
        late = BuildingLoad({"L1": 20.0}, T0)
        early = BuildingLoad({"L1": 5.0, "L2": 1.5}, T0 - timedelta(minutes=1))
        assert self.store.load(site) is None
        self.store.record_load(site, late, event("load-management.measurement-recorded"))
        self.store.record_load(site, early, event("load-management.measurement-recorded"))
        kept = self.store.load(site)
        assert kept is not None
        assert (dict(kept.per_phase), kept.measured_at) == ({"L1": 20.0}, T0)
        assert len([e for e in self.committed()
                    if e["type"] == "load-management.measurement-recorded"]) >= 2

    def test_a_replayed_model_applies_once_and_never_over_a_later_one(self, site: str) -> None:
        event_id = str(uuid.uuid4())
        assert self.store.apply_model(event_id, model(site, 50.0), T0)
        assert not self.store.apply_model(event_id, model(site, 10.0), T0 + timedelta(1))
        assert self.store.model(site) == model(site, 50.0)
        assert self.store.apply_model(str(uuid.uuid4()), model(site, 30.0),
                                      T0 - timedelta(hours=1))
        assert self.store.model(site) == model(site, 50.0)  # older: not taken back

    def test_an_event_committed_live_is_not_applied_again(self, site: str) -> None:
        written = event("load-management.electrical-model-set")
        self.store.save_model(model(site), written)
        assert not self.store.apply_model(written.event_id, model(site, 10.0),
                                          T0 + timedelta(hours=1))
        assert self.store.model(site) == model(site)

    def test_a_replayed_measurement_applies_once_and_the_later_wins(self, site: str) -> None:
        event_id = str(uuid.uuid4())
        assert self.store.apply_load(event_id, site, BuildingLoad({"L1": 7.0}, T0))
        assert not self.store.apply_load(event_id, site, BuildingLoad({"L1": 9.0},
                                                                       T0 + timedelta(1)))
        assert self.store.apply_load(str(uuid.uuid4()), site,
                                     BuildingLoad({"L1": 1.0}, T0 - timedelta(minutes=5)))
        kept = self.store.load(site)
        assert kept is not None and dict(kept.per_phase) == {"L1": 7.0}

    def test_the_power_view_is_replaced_and_read_back(self, site: str) -> None:
        assert self.store.power(site) is None
        self.store.record_rounds([AllocationRound(site, {"site_id": site, "available_a": [1.0]},
                                                  T0)])
        self.store.record_rounds([AllocationRound(site, {"site_id": site, "available_a": [2.5]},
                                                  T0)])
        assert self.store.power(site) == {"site_id": site, "available_a": [2.5]}

    def test_a_published_event_is_committed(self, site: str) -> None:
        allocation = event("load-management.allocation", {"site_id": site})
        self.store.publish(allocation)
        [kept] = [e for e in self.committed() if e["event_id"] == allocation.event_id]
        assert (kept["type"], kept["payload"]) == ("load-management.allocation",
                                                   {"site_id": site})


    def test_rotation_turns_are_kept_with_their_allocation_and_the_later_win(
            self, site: str) -> None:
        assert self.store.turns(site) == {}
        turns = {("CP-1", 1): Turn(True, T0), ("CP-2", 2): Turn(False, T0 - timedelta(1))}
        allocation = event("load-management.allocation", {"site_id": site})
        self.store.record_rounds([AllocationRound(site, {}, T0, turns, allocation)])
        assert self.store.turns(site) == turns
        assert allocation.event_id in self.committed_ids()
        older = BusinessEvent("load-management.allocation", {}, "tester",
                              event_id=str(uuid.uuid4()), occurred_at=T0 - timedelta(hours=1))
        self.store.record_rounds([AllocationRound(site, {}, T0 - timedelta(hours=1), {}, older)])
        assert self.store.turns(site) == turns
        assert not self.store.apply_turns(allocation.event_id, site, {}, T0 + timedelta(1))

    def test_rounds_of_many_sites_keep_each_view_every_event_and_the_later_turns(
            self, site: str) -> None:
        other = f"{site}-b"
        first = event("load-management.allocation", {"site_id": site})
        later = BusinessEvent("load-management.allocation", {"site_id": site}, "tester",
                              event_id=str(uuid.uuid4()), occurred_at=T0 + timedelta(1))
        running = {("CP-1", 1): Turn(True, T0)}
        waiting = {("CP-1", 1): Turn(False, T0 + timedelta(1))}
        self.store.record_rounds([
            AllocationRound(site, {"v": 1}, T0 + timedelta(1), waiting, later),
            AllocationRound(other, {"v": 2}, T0),
            AllocationRound(site, {"v": 3}, T0, running, first),  # older turns, last view
        ])
        assert (self.store.power(site), self.store.power(other)) == ({"v": 3}, {"v": 2})
        assert self.store.turns(site) == waiting and self.store.turns(other) == {}
        ids = self.committed_ids()
        assert first.event_id in ids and later.event_id in ids
        assert not self.store.apply_turns(first.event_id, site, {}, T0 + timedelta(2))
        self.store.record_rounds([])  # nothing to write: no error

    def test_replayed_turns_apply_once_and_never_over_later_ones(self, site: str) -> None:
        event_id, turns = str(uuid.uuid4()), {("CP-9", 1): Turn(False, T0)}
        assert self.store.apply_turns(event_id, site, turns, T0)
        assert not self.store.apply_turns(event_id, site, {}, T0 + timedelta(minutes=1))
        assert self.store.apply_turns(str(uuid.uuid4()), site, {}, T0 - timedelta(minutes=1))
        assert self.store.turns(site) == turns
        assert self.store.apply_turns(str(uuid.uuid4()), site, {}, T0 + timedelta(minutes=1))
        assert self.store.turns(site) == {}


class TestMemoryLoadStore(LoadStoreContract):
    @pytest.fixture(autouse=True)
    def _store(self) -> None:
        self.groups: set[str] = set()
        self.memory = MemoryLoadStore(group_exists=self.groups.__contains__)
        self.store = self.memory

    def add_group(self, group_id: str) -> None:
        self.groups.add(group_id)

    def committed(self) -> list[dict[str, Any]]:
        return [{"event_id": e.event_id, "type": e.type, "payload": dict(e.payload)}
                for e in self.memory.events]


class SqlLoadStoreContract(LoadStoreContract):
    def use(self, url: str) -> Iterator[None]:
        self.engine = create_engine(url)
        self.store = SqlLoadStore(self.engine)
        yield
        self.engine.dispose()

    def committed(self) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            bodies = db.execute(select(outbox_events.c.body).order_by(
                outbox_events.c.seq)).scalars()
            return [json.loads(body) for body in bodies]

    def add_group(self, group_id: str) -> None:
        SqlIdTagStore(self.engine).save_group(IdTagGroup(group_id, "Apto"),
                                              event("id-tags.group-created"))


class TestSqliteLoadStore(SqlLoadStoreContract):
    @pytest.fixture(autouse=True)
    def _store(self, tmp_path: Path) -> Iterator[None]:
        url = f"sqlite:///{tmp_path / 'save-server.sqlite3'}"
        migrate(url)
        yield from self.use(url)


@pytest.fixture(scope="module")
def postgres_url(postgres_database: Callable[..., Any]) -> Iterator[str]:
    with postgres_database("save_load_store") as url:
        migrate(url)
        yield url


@pytest.mark.integration
class TestPostgresLoadStore(SqlLoadStoreContract):
    @pytest.fixture(autouse=True)
    def _store(self, postgres_url: str) -> Iterator[None]:
        yield from self.use(postgres_url)
