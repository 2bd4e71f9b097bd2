"""Unit tests of the MongoDB adapter's query and index building on `mongomock`.

An extra check only: they are NOT the real-server run (that is TestMongoStorageContract in
test_event_store_contract.py, executed when MONGO_URL is set) and never count as it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import mongomock
import pytest

from event_store.domain.queries import Cursor, EventQuery
from event_store.infrastructure.mongo_storage import MongoEventStorage, build_filter

T0 = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
T0_MS = datetime(2026, 11, 25, 12, 0, 0, 123000, tzinfo=UTC)


@pytest.fixture
def collection():
    return mongomock.MongoClient(tz_aware=True)["event_store"]["events"]


def test_mongo_adapter_on_mongomock_creates_the_required_indexes(collection):
    MongoEventStorage(collection).ensure_indexes(retention_days=None)
    indexes = {name: info for name, info in collection.index_information().items()}
    assert indexes["event_id_unique"]["key"] == [("event_id", 1)]
    assert indexes["event_id_unique"]["unique"] is True
    assert indexes["type_date"]["key"] == [("type", 1), ("date", 1), ("event_id", 1)]
    assert indexes["station_date"]["key"] == [("charging_station_id", 1), ("date", 1),
                                              ("event_id", 1)]
    assert indexes["date"]["key"] == [("date", 1)]
    assert indexes["date_event_id"]["key"] == [("date", 1), ("event_id", 1)]
    assert "expireAfterSeconds" not in indexes["date"]


def test_mongo_adapter_on_mongomock_retention_turns_the_date_index_into_a_ttl_index(collection):
    storage = MongoEventStorage(collection)
    storage.ensure_indexes(retention_days=None)
    storage.ensure_indexes(retention_days=30)
    assert collection.index_information()["date"]["expireAfterSeconds"] == 30 * 86400
    # only the stations' traffic expires (business events are marked not expiring)
    assert collection.index_information()["date"]["partialFilterExpression"] == {
        "expiring": True}
    storage.ensure_indexes(retention_days=None)
    assert "expireAfterSeconds" not in collection.index_information()["date"]


def test_mongo_adapter_on_mongomock_index_creation_is_repeatable(collection):
    storage = MongoEventStorage(collection)
    storage.ensure_indexes(retention_days=7)
    storage.ensure_indexes(retention_days=7)
    assert len(collection.index_information()) == 6  # _id + the five of the store


def test_mongo_adapter_on_mongomock_builds_filters_at_millisecond_precision():
    query = EventQuery(start_date=T0, end_date=T0, types=("a", "b"), charging_station_id="CP-1",
                       after=Cursor(T0, "id-1"))
    assert build_filter(query) == {"$and": [
        {"date": {"$gte": T0_MS, "$lte": T0_MS}},
        {"type": {"$in": ["a", "b"]}},
        {"charging_station_id": "CP-1"},
        {"$or": [{"date": {"$gt": T0_MS}}, {"date": T0_MS, "event_id": {"$gt": "id-1"}}]},
    ]}
    assert build_filter(EventQuery()) == {}
    assert build_filter(EventQuery(charging_station_id="CP-9")) == {"charging_station_id": "CP-9"}


def test_mongo_adapter_on_mongomock_a_later_cursor_tightens_the_date_range():
    later = datetime(2026, 11, 25, 13, 0, 0, 456789, tzinfo=UTC)
    later_ms = datetime(2026, 11, 25, 13, 0, 0, 456000, tzinfo=UTC)
    query = EventQuery(start_date=T0, after=Cursor(later, "id-2"))
    assert build_filter(query) == {"$and": [
        {"date": {"$gte": later_ms}},
        {"$or": [{"date": {"$gt": later_ms}}, {"date": later_ms, "event_id": {"$gt": "id-2"}}]},
    ]}
    without_start = build_filter(EventQuery(after=Cursor(later, "id-2")))
    assert without_start["$and"][0] == {"date": {"$gte": later_ms}}


def test_mongo_adapter_on_mongomock_pages_from_start_date_match_one_query(collection,
                                                                          make_event):
    storage = MongoEventStorage(collection)
    events = [make_event(received_at=datetime(2026, 11, 25, 12, i // 3, tzinfo=UTC))
              for i in range(20)]
    storage.save_many(events)
    base = EventQuery(start_date=datetime(2026, 11, 25, 12, 1, tzinfo=UTC), limit=4)
    query, seen = base, []
    while page := storage.find(query):
        seen += [e.event_id for e in page]
        query = query.next_page(page[-1])
    everything = storage.find(EventQuery(start_date=base.start_date, limit=1000))
    assert seen == [e.event_id for e in everything]
    assert len(everything) == 17


def test_mongo_adapter_on_mongomock_stores_indexed_fields_envelope_and_raw_body(collection,
                                                                               make_event):
    storage = MongoEventStorage(collection)
    storage.ensure_indexes(retention_days=None)
    event = make_event(station="CP-7", event_type="ocpp-events.authorize", received_at=T0)
    assert storage.save_many([event]) == 1
    assert storage.save_many([event]) == 0  # duplicate event_id: a success, not an error
    document = collection.find_one({"event_id": event.event_id})
    assert document["type"] == "ocpp-events.authorize"
    assert document["charging_station_id"] == "CP-7"
    assert document["date"] == T0_MS
    assert document["envelope"] == event.envelope
    assert bytes(document["body"]) == event.body
    assert storage.get(event.event_id).date == T0  # full precision comes from the envelope


def test_mongo_adapter_on_mongomock_replaces_an_index_whose_keys_changed(collection):
    collection.create_index([("type", 1), ("date", 1)], name="type_date")
    MongoEventStorage(collection).ensure_indexes(retention_days=None)
    assert collection.index_information()["type_date"]["key"] == [
        ("type", 1), ("date", 1), ("event_id", 1)]
