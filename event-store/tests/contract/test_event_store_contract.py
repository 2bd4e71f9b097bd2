"""One storage contract, run against every adapter: SQLite always, MongoDB when MONGO_URL is set.

Run it against a real MongoDB with e.g.
`MONGO_URL=mongodb://localhost:27017 .venv/bin/python -m pytest event-store/tests -k Contract`.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from event_store.domain.ports import EventStorage
from event_store.domain.queries import EventQuery
from event_store.infrastructure.sqlite_storage import SqliteEventStorage

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
HEART_BEAT = "ocpp-events.heart-beat"
START = "ocpp-events.start-transaction"
STOP = "ocpp-events.stop-transaction"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class StorageContract:
    """Behaviour every EventStorage adapter must have. Subclasses provide `storage`."""

    @pytest.fixture
    def storage(self) -> Iterator[EventStorage]:
        raise NotImplementedError

    def test_saving_new_events_reports_how_many_were_new(self, storage, make_event):
        events = [make_event(received_at=at(i)) for i in range(3)]
        assert storage.save_many(events) == 3
        assert storage.save_many([]) == 0

    def test_a_duplicate_event_id_is_skipped_not_an_error(self, storage, make_event):
        event = make_event(received_at=at(0))
        other = make_event(received_at=at(1))
        assert storage.save_many([event]) == 1
        assert storage.save_many([event, other, event]) == 1
        assert [e.event_id for e in storage.find(EventQuery())] == [event.event_id,
                                                                    other.event_id]

    def test_get_returns_the_envelope_and_the_body_exactly_as_received(self, storage,
                                                                         envelope):
        from event_store.domain.events import parse_event

        body = envelope(station="CP-42", event_type=START, received_at=at(0),
                        payload={"connectorId": 1, "idTag": "ABC", "meterStart": 10})
        event = parse_event(body)
        storage.save_many([event])
        found = storage.get(event.event_id)
        assert found is not None
        assert found.body == body
        assert found.envelope["gateway_extra_field"] == "kept as received"
        assert (found.type, found.charging_station_id, found.date) == (START, "CP-42", at(0))
        assert storage.get(str(uuid.uuid4())) is None

    def test_find_returns_oldest_first_whatever_the_insertion_order(self, storage, make_event):
        events = [make_event(received_at=at(m)) for m in (5, 1, 3)]
        storage.save_many(events)
        assert [e.date for e in storage.find(EventQuery())] == [at(1), at(3), at(5)]

    def test_find_filters_by_inclusive_date_range_types_and_station(self, storage, make_event):
        wanted = [make_event(station="CP-A", event_type=START, received_at=at(10)),
                  make_event(station="CP-A", event_type=STOP, received_at=at(20))]
        storage.save_many([
            *wanted,
            make_event(station="CP-A", event_type=HEART_BEAT, received_at=at(15)),
            make_event(station="CP-B", event_type=START, received_at=at(12)),
            make_event(station="CP-A", event_type=START, received_at=at(9)),
            make_event(station="CP-A", event_type=STOP, received_at=at(21)),
        ])
        query = EventQuery(start_date=at(10), end_date=at(20), types=(START, STOP),
                           charging_station_id="CP-A")
        assert [e.event_id for e in storage.find(query)] == [e.event_id for e in wanted]
        assert len(storage.find(EventQuery(types=(HEART_BEAT,)))) == 1
        assert len(storage.find(EventQuery(charging_station_id="CP-B"))) == 1
        assert len(storage.find(EventQuery(start_date=at(20)))) == 2
        assert len(storage.find(EventQuery(end_date=at(9)))) == 1

    def test_keyset_pages_cover_every_event_once_even_with_equal_dates(self, storage,
                                                                      make_event):
        events = [make_event(received_at=at(i // 3)) for i in range(10)]  # 3 share each date
        storage.save_many(events)
        query, seen = EventQuery(limit=4), []
        while True:
            page = storage.find(query)
            seen += [e.event_id for e in page]
            if len(page) < query.limit:
                break
            query = query.next_page(page[-1])
        expected = sorted(events, key=lambda e: (e.date, e.event_id))
        assert seen == [e.event_id for e in expected]

    def test_paging_with_start_date_and_cursor_returns_what_one_big_query_returns(
            self, storage, make_event):
        events = [make_event(station=f"CP-{i % 2}", received_at=at(i // 4)) for i in range(40)]
        storage.save_many(events)
        for base in (EventQuery(start_date=at(2), end_date=at(8)),
                     EventQuery(start_date=at(1), charging_station_id="CP-1"),
                     EventQuery(start_date=at(3), types=(HEART_BEAT,))):
            query, seen = EventQuery(**{**base.__dict__, "limit": 3}), []
            while True:
                page = storage.find(query)
                seen += [e.event_id for e in page]
                if len(page) < query.limit:
                    break
                query = query.next_page(page[-1])
            everything = storage.find(EventQuery(**{**base.__dict__, "limit": 1000}))
            assert seen == [e.event_id for e in everything]
            assert len(set(seen)) == len(seen) > 3

    def test_stats_count_per_type_and_per_utc_day_within_the_range(self, storage, make_event):
        day1, day2 = datetime(2026, 11, 24, 23, 59, tzinfo=UTC), datetime(2026, 11, 25, 0, 1,
                                                                             tzinfo=UTC)
        storage.save_many([make_event(event_type=START, received_at=day1),
                           make_event(event_type=STOP, received_at=day2),
                           make_event(event_type=STOP, received_at=day2 + timedelta(hours=1)),
                           make_event(event_type=STOP, received_at=day2 + timedelta(days=3))])
        stats = storage.stats(day1, day2 + timedelta(days=1))
        assert stats.total == 3
        assert stats.by_type == {START: 1, STOP: 2}
        assert stats.by_day == {"2026-11-24": 1, "2026-11-25": 2}
        assert storage.stats(None, None).total == 4

    def test_delete_older_than_removes_only_older_events(self, storage, make_event):
        old, kept = make_event(received_at=at(0)), make_event(received_at=at(60))
        storage.save_many([old, kept])
        assert storage.delete_older_than(at(30)) == 1
        assert [e.event_id for e in storage.find(EventQuery())] == [kept.event_id]

    def test_retention_keeps_business_events_whatever_their_age(self, storage, make_event):
        traffic = [make_event(received_at=at(0), event_type=t)
                   for t in ("ocpp-events.heart-beat", "ocpp-commands.reset")]
        business = [make_event(received_at=at(0), event_type=t)
                    for t in ("accounts.account-created", "reports.subscription-created",
                              "event-store.replay-started")]
        storage.save_many([*traffic, *business])
        assert storage.delete_older_than(at(30)) == 2
        assert {e.event_id for e in storage.find(EventQuery())} == {
            e.event_id for e in business}

    def test_concurrent_writers_from_several_threads_store_each_event_once(self, storage,
                                                                           make_event):
        events = [make_event(received_at=at(i)) for i in range(200)]
        errors: list[BaseException] = []

        def write(chunk):
            try:
                for start in range(0, len(chunk), 20):
                    storage.save_many(chunk[start:start + 20])
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=write, args=(events[i::2] + events,))
                   for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(storage.find(EventQuery(limit=1000))) == 200

    def test_ping_succeeds_on_a_reachable_storage(self, storage):
        storage.ping()


class TestSqliteStorageContract(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path) -> Iterator[EventStorage]:
        storage = SqliteEventStorage(tmp_path / "contract.sqlite3")
        yield storage
        storage.close()

    def test_sqlite_file_is_in_wal_mode_and_shared_between_instances(self, storage, tmp_path,
                                                                     make_event):
        storage.save_many([make_event(received_at=at(0))])
        second = SqliteEventStorage(tmp_path / "contract.sqlite3")
        try:
            assert len(second.find(EventQuery())) == 1
            mode = second._connection().execute("PRAGMA journal_mode").fetchone()[0]
            assert mode == "wal"
        finally:
            second.close()

    def test_sqlite_a_cursor_after_start_date_becomes_the_lower_bound_of_the_range(
            self, storage, make_event):
        events = [make_event(received_at=at(i)) for i in range(10)]
        storage.save_many(events)
        statements: list[str] = []
        storage._connection().set_trace_callback(statements.append)
        page = storage.find(EventQuery(start_date=at(1), limit=3).next_page(events[5]))
        storage._connection().set_trace_callback(None)
        assert [e.event_id for e in page] == [e.event_id for e in events[6:9]]
        cursor_us = int((at(5) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
        assert f"date_us >= {cursor_us}" in statements[-1]


MONGO_URL = os.environ.get("MONGO_URL")
NO_MONGO = "MONGO_URL not set: real MongoDB contract run not executed"


@pytest.mark.mongo
@pytest.mark.skipif(not MONGO_URL, reason=NO_MONGO)
class TestMongoStorageContract(StorageContract):
    @pytest.fixture
    def storage(self) -> Iterator[EventStorage]:
        from pymongo import MongoClient

        from event_store.infrastructure.mongo_storage import MongoEventStorage

        database = f"event_store_test_{uuid.uuid4().hex[:10]}"
        storage = MongoEventStorage.connect(MONGO_URL, database, retention_days=None)
        yield storage
        storage.close()
        with MongoClient(MONGO_URL) as client:
            client.drop_database(database)
