"""One contract for the RegistryStore port, run against its adapter on SQLite and PostgreSQL
and against the in-memory fake of the service tests: a registration naming no site is refused,
also when the site is deleted while it is saved (the SQL adapter's answer is the site's
foreign key, which SQLite enforces as PostgreSQL does), a refusal the store does not expect
(a broken invariant) is never passed off as a missing site or as a duplicate event,
registering is only ever a new registration and a change only ever changes one that is there
(a change racing a deregistration never registers the station again), and only the very
registration it was made from (a change made from a read that another write overtook writes
nothing)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, exc, func, insert, select, update

from save_server.domain.business_events import BusinessEvent
from save_server.domain.registry import (
    AlreadyRegistered,
    RegistryStore,
    SecurityEvent,
    Site,
    StaleRegistration,
    StationRegistration,
    UnknownSite,
)
from save_server.infrastructure.db.engine import make_engine, migrate
from save_server.infrastructure.db.integrity import Violation, violates
from save_server.infrastructure.outbox.tables import outbox_events
from save_server.infrastructure.registry.store import SqlRegistryStore
from save_server.infrastructure.registry.tables import sites, station_registrations

from ..lock_waits import postgres_lock_wait, writes_wait_on
from ..registry_memory import MemoryRegistryStore

pytestmark = pytest.mark.contract
T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def event(kind: str) -> BusinessEvent:
    return BusinessEvent(kind, {}, "tester", event_id=str(uuid.uuid4()), occurred_at=T0)


def security_event(event_id: str, type_: Any = "FirmwareUpdated") -> SecurityEvent:
    return SecurityEvent(event_id, "CP-1", type_, T0, None, T0)


class RegistryStoreContract:
    """Subclasses give `store` and `committed()` (how many events were committed)."""

    store: RegistryStore

    def committed(self) -> int:
        raise NotImplementedError

    @pytest.fixture
    def station(self) -> str:
        return f"CP-{uuid.uuid4().hex[:8]}"

    def site(self) -> str:
        site = Site(str(uuid.uuid4()), "Condomínio Azul")
        self.store.add_site(site, event("sites.site-created"))
        return site.site_id

    def registered(self, station: str) -> StationRegistration:
        return self.store.register(StationRegistration(station, 1, registered_at=T0),
                                   [event("registry.station-registered")])

    def test_a_registration_is_saved_on_its_site(self, station: str) -> None:
        site_id = self.site()
        saved = self.store.register(StationRegistration(station, 0, site_id, registered_at=T0),
                                    [])
        assert self.store.registration(station) == saved and saved.site_id == site_id

    def test_a_registration_naming_no_site_is_refused_and_commits_nothing(
            self, station: str) -> None:
        before = self.committed()
        with pytest.raises(UnknownSite):
            self.store.register(StationRegistration(station, 0, "no-such-site"),
                                [event("registry.x")])
        assert self.store.registration(station) is None and self.committed() == before

    def test_another_constraint_is_not_reported_as_a_missing_site(self, station: str) -> None:
        before = self.committed()
        broken = StationRegistration(station, 0, enabled=None)  # type: ignore[arg-type]
        with pytest.raises(Exception) as refused:
            self.store.register(broken, [])
        assert not isinstance(refused.value, LookupError)
        assert self.store.registration(station) is None and self.committed() == before

    def test_a_change_is_saved_with_a_new_revision(self, station: str) -> None:
        current = self.registered(station)
        before = self.committed()
        changed = self.store.change_registration(current.changed(enabled=False),
                                                 "station-updated",
                                                 [event("registry.station-updated")])
        assert changed is not None and changed.revision > current.revision
        assert self.store.registration(station) == changed and not changed.enabled
        assert self.committed() == before + 2  # the registry event and the audit

    def test_registering_a_registered_station_is_refused_and_commits_nothing(
            self, station: str) -> None:
        current = self.registered(station)
        before = self.committed()
        with pytest.raises(AlreadyRegistered):
            self.store.register(StationRegistration(station, 2, name="again"),
                                [event("registry.station-registered")])
        assert self.store.registration(station) == current and self.committed() == before

    def test_a_change_to_a_deregistered_station_does_not_register_it_again(
            self, station: str) -> None:
        current = self.registered(station)
        assert self.store.deregister(station, [event("registry.station-deregistered")])
        before = self.committed()
        assert self.store.change_registration(current.changed(enabled=False),
                                              "station-updated",
                                              [event("registry.station-updated")]) is None
        assert self.store.registration(station) is None and self.committed() == before

    def test_a_change_made_from_a_stale_read_writes_nothing(self, station: str) -> None:
        read = self.registered(station)
        theirs = self.store.change_registration(read.changed(name="theirs"), "station-updated",
                                                [event("registry.station-updated")])
        before = self.committed()
        with pytest.raises(StaleRegistration):
            self.store.change_registration(read.changed(enabled=False), "station-updated",
                                           [event("registry.station-updated")])
        assert self.store.registration(station) == theirs and self.committed() == before
        assert theirs is not None
        mine = self.store.change_registration(theirs.changed(enabled=False),
                                              "station-updated", [])
        assert mine is not None and (mine.name, mine.enabled) == ("theirs", False)

    def test_a_change_made_before_a_deregistration_does_not_change_the_new_registration(
            self, station: str) -> None:
        read = self.registered(station)
        assert self.store.deregister(station, [])
        again = self.registered(station)
        before = self.committed()
        with pytest.raises(StaleRegistration):
            self.store.change_registration(read.changed(enabled=False), "station-updated", [])
        assert self.store.registration(station) == again and self.committed() == before

    def test_a_refusal_is_counted_once_per_event(self, station: str) -> None:
        event_id = str(uuid.uuid4())
        assert self.store.record_unknown(event_id, station, T0, None, ())
        assert not self.store.record_unknown(event_id, station, T0, None, ())
        [unknown] = [u for u in self.store.unknown_stations() if u.station_id == station]
        assert unknown.attempts == 1

    def test_a_refusal_without_an_event_id_is_an_error_not_a_duplicate(
            self, station: str) -> None:
        with pytest.raises(Exception):  # noqa: B017 - whatever the database raises
            self.store.record_unknown(None, station, T0, None, ())  # type: ignore[arg-type]
        assert station not in {u.station_id for u in self.store.unknown_stations()}

    def test_a_redelivered_security_event_is_kept_once(self) -> None:
        event_id = str(uuid.uuid4())
        self.store.add_security_event(security_event(event_id))
        self.store.add_security_event(security_event(event_id))
        assert [e.event_id for e in self.store.security_events("CP-1", 500)].count(
            event_id) == 1

    def test_a_security_event_without_a_type_is_an_error_not_a_duplicate(self) -> None:
        event_id = str(uuid.uuid4())
        with pytest.raises(Exception):  # noqa: B017 - whatever the database raises
            self.store.add_security_event(security_event(event_id, None))
        assert event_id not in {e.event_id for e in self.store.security_events("CP-1", 500)}


class TestMemoryRegistryStore(RegistryStoreContract):
    @pytest.fixture(autouse=True)
    def _store(self) -> None:
        self.store = self.memory = MemoryRegistryStore()

    def committed(self) -> int:
        return len(self.memory.published)


class SqlRegistryStoreContract(RegistryStoreContract):
    def use(self, url: str) -> Iterator[None]:
        self.engine = make_engine(url)
        self.store = SqlRegistryStore(self.engine)
        yield
        self.engine.dispose()

    def committed(self) -> int:
        with self.engine.connect() as db:
            return int(db.execute(select(func.count()).select_from(outbox_events)).scalar_one())

    def test_a_site_deleted_while_the_registration_is_saved_is_a_missing_site(
            self, station: str) -> None:
        """The deletion holds its write (PostgreSQL: the site's row lock; SQLite: the
        database's write lock) until the save waits on it; once it commits, the site's
        foreign key refuses the registration, on SQLite as on PostgreSQL."""
        site_id = self.site()
        outcome: list[BaseException | None] = []

        def save() -> None:
            try:
                self.store.register(StationRegistration(station, 0, site_id), [])
                outcome.append(None)
            except BaseException as error:
                outcome.append(error)

        with self.engine.connect() as deleting, writes_wait_on(self.engine, deleting) as wait:
            deleting.execute(delete(sites).where(sites.c.site_id == site_id))
            saving = threading.Thread(target=save)
            saving.start()
            wait()
            deleting.commit()
            saving.join(10)
        [error] = outcome
        assert isinstance(error, UnknownSite) and error.__cause__ is not None
        assert self.store.registration(station) is None

    def test_the_database_says_which_constraint_refused_a_row(self) -> None:
        site_id = self.site()
        with self.engine.begin() as db, pytest.raises(exc.IntegrityError) as duplicate:
            db.execute(insert(sites).values(site_id=site_id, name="again", timezone="UTC"))
        assert violates(duplicate.value, Violation.UNIQUE, "sites")
        assert not violates(duplicate.value, Violation.UNIQUE, "site")
        assert not violates(duplicate.value, Violation.FOREIGN_KEY, "sites")
        with self.engine.begin() as db, pytest.raises(exc.IntegrityError) as unnamed:
            db.execute(insert(sites).values(site_id=str(uuid.uuid4()), name=None,
                                            timezone="UTC"))
        assert violates(unnamed.value, Violation.NOT_NULL, "sites")
        assert not violates(unnamed.value, Violation.UNIQUE, "sites")


class TestSqliteRegistryStore(SqlRegistryStoreContract):
    @pytest.fixture(autouse=True)
    def _store(self, tmp_path: Path) -> Iterator[None]:
        url = f"sqlite:///{tmp_path / 'save-server.sqlite3'}"
        migrate(url)
        yield from self.use(url)


@pytest.fixture(scope="module")
def postgres_url(postgres_database: Callable[..., Any]) -> Iterator[str]:
    with postgres_database("save_registry_store") as url:
        migrate(url)
        yield url


@pytest.mark.integration
class TestPostgresRegistryStore(SqlRegistryStoreContract):
    @pytest.fixture(autouse=True)
    def _store(self, postgres_url: str) -> Iterator[None]:
        yield from self.use(postgres_url)

    def test_a_change_waiting_on_a_deregistration_does_not_register_the_station_again(
            self, station: str) -> None:
        """The deregistration holds the station's row until the change, past its reads,
        waits on it: the change then finds no row to update, and commits nothing."""
        current = self.registered(station)
        outcome: list[StationRegistration | BaseException | None] = []

        def change() -> None:
            try:
                outcome.append(self.store.change_registration(
                    current.changed(enabled=False), "station-updated", []))
            except BaseException as error:
                outcome.append(error)

        with self.engine.connect() as deregistering:
            deregistering.execute(delete(station_registrations).where(
                station_registrations.c.station_id == station))
            changing = threading.Thread(target=change)
            changing.start()
            postgres_lock_wait(self.engine, deregistering)
            deregistering.commit()
            changing.join(10)
        assert outcome == [None]
        assert self.store.registration(station) is None

    def test_a_change_waiting_on_another_change_of_the_row_does_not_overwrite_it(
            self, station: str) -> None:
        """The other change holds the station's row until this one, past its reads and the
        registry revision's bump, waits on it: PostgreSQL then checks the revision again on
        the row the other committed, and this change writes nothing."""
        read = self.registered(station)
        outcome: list[StationRegistration | BaseException | None] = []

        def change() -> None:
            try:
                outcome.append(self.store.change_registration(
                    read.changed(enabled=False), "station-updated", []))
            except BaseException as error:
                outcome.append(error)

        before = self.committed()
        t = station_registrations.c
        with self.engine.connect() as other:
            other.execute(update(station_registrations).where(t.station_id == station)
                          .values(name="theirs", revision=t.revision + 1))
            changing = threading.Thread(target=change)
            changing.start()
            postgres_lock_wait(self.engine, other)
            other.commit()
            changing.join(10)
        [error] = outcome
        assert isinstance(error, StaleRegistration), error
        saved = self.store.registration(station)
        assert saved is not None and (saved.name, saved.enabled) == ("theirs", True)
        assert self.committed() == before
