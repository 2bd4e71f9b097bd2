"""One contract for the UnitOfWork port and its repositories, run against every adapter: the
in-memory fake the unit tests use, SQLite and PostgreSQL. A fast test on the fake proves what
this suite proves of the fake."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.domain.model import BootInfo, MeterSample, Station, StatusReport
from save_server.domain.ports import UnitOfWork
from save_server.domain.rules import ConnectorStatus, Measurand, StationStatus
from save_server.infrastructure.db.documents import station_document
from save_server.infrastructure.db.readers import SqlChargeReader

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
UowFactory = Callable[[], UnitOfWork]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new_id(prefix: str = "CP") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def busy_station(station: Station) -> None:
    """Connections, a boot, readings, connector reports, an id tag and operator data."""
    station.seen("conn-1", at(0))
    station.seen("conn-1", at(30))
    station.disconnected("conn-1", at(31))
    station.seen("conn-2", at(40))
    station.booted(at(40), BootInfo("ACME", "Wallbox", "SN-1", "1.2"))
    station.report_status(0, StatusReport(at(41), ConnectorStatus.AVAILABLE, "Available"))
    station.report_status(1, StatusReport(at(42), ConnectorStatus.IN_USE, "Charging"))
    station.assign_id_tag(1, "TAG-1", at(42))
    station.report_status(2, StatusReport(at(43), ConnectorStatus.FAULTED, "Faulted",
                                          "GroundFailure", "hot"))
    station.record_readings([MeterSample(at(44), Measurand.VOLTAGE, 231.5, "V", "L1"),
                             MeterSample(at(44), Measurand.ENERGY_REGISTER, 1200.0, "Wh")])
    station.update_details(name="Garagem São João", latitude=38.7, longitude=-9.1)


class UnitOfWorkContract:
    """Behaviour every UnitOfWork adapter must have. Subclasses provide `uow_factory` and
    `meter_values` (how the adapter's stored meter values are read back)."""

    @pytest.fixture
    def uow_factory(self) -> Iterator[UowFactory]:
        raise NotImplementedError

    @pytest.fixture
    def meter_values(self) -> Callable[[str, str], list[MeterSample]]:
        raise NotImplementedError

    # -- stations ------------------------------------------------------------------------
    def test_an_unknown_station_is_none_until_created(self, uow_factory: UowFactory) -> None:
        station_id = new_id()
        with uow_factory() as uow:
            assert uow.stations.get(station_id) is None
            created = uow.stations.get_or_create(station_id)
            assert (created.station_id, created.status, created.connectors) == (
                station_id, StationStatus.DISCONNECTED, {})
            uow.commit()
        with uow_factory() as uow:
            found = uow.stations.get(station_id)
            assert found is not None and found.station_id == station_id

    def test_a_committed_station_reads_back_as_it_was_saved(self,
                                                            uow_factory: UowFactory) -> None:
        station_id = new_id()
        with uow_factory() as uow:
            station = uow.stations.get_or_create(station_id, ["conn-1"])
            busy_station(station)
            saved = station_document(station)
            uow.commit()
        with uow_factory() as uow:
            loaded = uow.stations.get_or_create(station_id, ["conn-2"])
            assert station_document(loaded) == saved
            assert loaded.status is StationStatus.CONNECTED
            assert loaded.connectors[1].id_tag == "TAG-1"
            assert loaded.connectors[2].error_code == "GroundFailure"

    def test_a_later_change_builds_on_the_committed_state(self,
                                                          uow_factory: UowFactory) -> None:
        station_id = new_id()
        with uow_factory() as uow:
            busy_station(uow.stations.get_or_create(station_id, ["conn-1"]))
            uow.commit()
        with uow_factory() as uow:
            station = uow.stations.get_or_create(station_id, ["conn-2"])
            station.report_status(1, StatusReport(at(50), ConnectorStatus.AVAILABLE,
                                                  "Available"))
            station.disconnected("conn-2", at(51))
            uow.commit()
        with uow_factory() as uow:
            station = uow.stations.get(station_id)
            assert station is not None
            connector = station.connectors[1]
            assert (connector.status, connector.id_tag, connector.last_used_at) == (
                ConnectorStatus.AVAILABLE, None, at(50))
            assert station.status is StationStatus.DISCONNECTED
            assert (station.first_connected_at, station.last_connected_at,
                    station.last_seen_at) == (at(0), at(40), at(40))
            assert station.name == "Garagem São João"

    def test_several_stations_at_once(self, uow_factory: UowFactory) -> None:
        ids = sorted(new_id() for _ in range(3))
        with uow_factory() as uow:
            uow.stations.get_or_create_many({station_id: ["c"] for station_id in ids})
            for station_id in ids:
                uow.stations.get_or_create(station_id, ["c"]).seen("c", at(1))
            uow.commit()
        with uow_factory() as uow:
            for station_id in ids:
                station = uow.stations.get(station_id)
                assert station is not None and station.last_seen_at == at(1)

    # -- charges -------------------------------------------------------------------------
    def test_one_charge_per_station_and_transaction(self, uow_factory: UowFactory) -> None:
        station_id = new_id()
        with uow_factory() as uow:
            charge = uow.charges.get_or_create(station_id, "7")
            assert uow.charges.get_or_create(station_id, "7") is charge
            assert uow.charges.get_or_create(station_id, "8") is not charge
            charge.start(1, "TAG-1", 1000.0, at(0))
            uow.commit()
        with uow_factory() as uow:
            again = uow.charges.get_or_create(station_id, "7")
            assert again.id is not None
            assert (again.connector_id, again.id_tag, again.meter_start_wh,
                    again.started_at, again.stopped) == (1, "TAG-1", 1000.0, at(0), False)
            again.stop(3500.0, at(60), "Local")
            uow.commit()
        with uow_factory() as uow:
            stopped = uow.charges.get_or_create(station_id, "7")
            assert (stopped.id, stopped.energy_wh, stopped.duration_seconds,
                    stopped.stop_reason) == (again.id, 2500.0, 3600.0, "Local")

    def test_new_charges_get_ids_in_the_order_given(self, uow_factory: UowFactory) -> None:
        station_id = new_id()
        transactions = ["30", "10", "20"]
        with uow_factory() as uow:
            uow.charges.get_or_create_many([(station_id, t) for t in transactions])
            ids = [uow.charges.get_or_create(station_id, t).id for t in transactions]
            uow.commit()
        assert all(i is not None for i in ids)
        assert ids == sorted(ids)  # type: ignore[type-var]

    def test_meter_values_are_kept_with_the_commit(
            self, uow_factory: UowFactory,
            meter_values: Callable[[str, str], list[MeterSample]]) -> None:
        station_id = new_id()
        samples = [MeterSample(at(1), Measurand.ENERGY_REGISTER, 1010.0, "Wh"),
                   MeterSample(at(2), Measurand.POWER, 7200.0, "W")]
        with uow_factory() as uow:
            uow.charges.add_meter_values(station_id, "9", samples)
            uow.commit()
        with uow_factory() as uow:
            uow.charges.add_meter_values(station_id, "9", [
                MeterSample(at(3), Measurand.POWER, 1.0, "W")])  # never committed
        stored = meter_values(station_id, "9")
        assert sorted((s.at, s.measurand, s.value, s.unit) for s in stored) == [
            (s.at, s.measurand, s.value, s.unit) for s in samples]

    # -- processed events ----------------------------------------------------------------
    def test_processed_events_are_seen_in_their_unit_and_after_commit(
            self, uow_factory: UowFactory) -> None:
        first, second, never = (str(uuid.uuid4()) for _ in range(3))
        with uow_factory() as uow:
            assert not uow.processed_events.seen(first)
            uow.processed_events.add(first, "ocpp-events.heart-beat")
            assert uow.processed_events.seen(first)
            uow.commit()
        with uow_factory() as uow:
            uow.processed_events.add(second, "ocpp-events.heart-beat")
            assert uow.processed_events.seen_among([first, second, never]) == {first, second}
            uow.commit()
        with uow_factory() as uow:
            assert uow.processed_events.seen_among([never, second]) == {second}

    # -- atomicity -----------------------------------------------------------------------
    def test_leaving_without_commit_keeps_nothing(self, uow_factory: UowFactory) -> None:
        station_id, event_id = new_id(), str(uuid.uuid4())
        with uow_factory() as uow:
            uow.stations.get_or_create(station_id).seen("c", at(0))
            uow.charges.get_or_create(station_id, "1").start(1, "TAG", 0.0, at(0))
            uow.processed_events.add(event_id, "ocpp-events.start-transaction")
        with pytest.raises(RuntimeError), uow_factory() as uow:
            uow.stations.get_or_create(station_id).seen("c", at(0))
            uow.processed_events.add(event_id, "ocpp-events.start-transaction")
            raise RuntimeError("the batch failed before its commit")
        with uow_factory() as uow:
            assert uow.stations.get(station_id) is None
            assert not uow.processed_events.seen(event_id)

    def test_a_rollback_discards_the_changes_to_a_committed_station(
            self, uow_factory: UowFactory) -> None:
        station_id = new_id()
        with uow_factory() as uow:
            uow.stations.get_or_create(station_id).update_details(name="Depot")
            uow.commit()
        with uow_factory() as uow:
            station = uow.stations.get(station_id)
            assert station is not None
            station.update_details(name="never")
            station.report_status(1, StatusReport(at(5), ConnectorStatus.FAULTED, "Faulted"))
            uow.rollback()
        with uow_factory() as uow:
            station = uow.stations.get(station_id)
            assert station is not None
            assert (station.name, station.connectors) == ("Depot", {})


class TestMemoryUnitOfWork(UnitOfWorkContract):
    @pytest.fixture
    def uow_factory(self, memory_uow: UowFactory) -> Iterator[UowFactory]:
        yield memory_uow

    @pytest.fixture
    def meter_values(self, store: Any) -> Callable[[str, str], list[MeterSample]]:
        return lambda station_id, transaction_id: store.meter_values.get(
            (station_id, transaction_id), [])


class SqlContract(UnitOfWorkContract):
    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def container(self, url: str, tmp_path: Path) -> Iterator[Any]:
        built = bootstrap(Settings(database_url=url, data_dir=tmp_path))
        yield built
        built.close()

    @pytest.fixture
    def uow_factory(self, container: Any) -> Iterator[UowFactory]:
        yield container.uow_factory

    @pytest.fixture
    def meter_values(self, container: Any) -> Callable[[str, str], list[MeterSample]]:
        return SqlChargeReader(container.engine).meter_values


@pytest.mark.integration
class TestSqliteUnitOfWork(SqlContract):
    @pytest.fixture
    def url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.integration
class TestPostgresUnitOfWork(SqlContract):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url
