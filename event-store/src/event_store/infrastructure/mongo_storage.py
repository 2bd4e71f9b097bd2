"""Production storage adapter: MongoDB through pymongo.

Each event is one document: `event_id` (unique index), `type`, `date` (the gateway's
`received_at`; BSON dates hold milliseconds, so ordering and filters are at millisecond
precision), `charging_station_id`, the whole `envelope` as a sub-document and the raw `body`
(so a replay is byte-for-byte the original). Indexes are created at start-up: `event_id`
unique, `(type, date, event_id)`, `(charging_station_id, date, event_id)`, `date` (a TTL index
with a retention period) and `(date, event_id)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import Binary
from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from event_store.domain.events import StoredEvent, as_utc, expires, parse_event
from event_store.domain.ports import EventStorage
from event_store.domain.queries import EventQuery, EventStats

DUPLICATE_KEY = 11000
COLLECTION = "events"


def to_bson_date(moment: datetime) -> datetime:
    """BSON dates keep milliseconds: truncate so stored values and filters agree."""
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def index_specs(retention_days: int | None) -> list[tuple[list[tuple[str, int]], dict[str, Any]]]:
    """The indexes the store needs: (keys, options) as given to `create_index`.

    `event_id` ends the compound indexes so they also serve the keyset sort (date, event_id)
    without an in-memory sort; `date` alone stays single-field because a TTL index must be."""
    date_options: dict[str, Any] = {"name": "date"}
    if retention_days is not None:  # only the documents marked expiring (see to_document)
        date_options["expireAfterSeconds"] = int(timedelta(days=retention_days).total_seconds())
        date_options["partialFilterExpression"] = {"expiring": True}
    return [
        ([("event_id", ASCENDING)], {"name": "event_id_unique", "unique": True}),
        ([("type", ASCENDING), ("date", ASCENDING), ("event_id", ASCENDING)],
         {"name": "type_date"}),
        ([("charging_station_id", ASCENDING), ("date", ASCENDING), ("event_id", ASCENDING)],
         {"name": "station_date"}),
        ([("date", ASCENDING)], date_options),
        ([("date", ASCENDING), ("event_id", ASCENDING)], {"name": "date_event_id"}),
    ]


def build_filter(query: EventQuery) -> dict[str, Any]:
    """The MongoDB filter for an EventQuery (date range, types, station, keyset cursor)."""
    start = query.start_date
    if query.after is not None and (start is None or query.after.date > start):
        start = query.after.date  # the index range follows the cursor, whatever the `$or` does
    conditions: list[dict[str, Any]] = [_range_filter(start, query.end_date)]
    if query.types:
        conditions.append({"type": {"$in": list(query.types)}})
    if query.charging_station_id is not None:
        conditions.append({"charging_station_id": query.charging_station_id})
    if query.after is not None:
        after = to_bson_date(query.after.date)
        conditions.append({"$or": [{"date": {"$gt": after}},
                                   {"date": after, "event_id": {"$gt": query.after.event_id}}]})
    conditions = [c for c in conditions if c]
    if not conditions:
        return {}
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


SORT = [("date", ASCENDING), ("event_id", ASCENDING)]


def _range_filter(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    date: dict[str, Any] = {}
    if start is not None:
        date["$gte"] = to_bson_date(start)
    if end is not None:
        date["$lte"] = to_bson_date(end)
    return {"date": date} if date else {}


def to_document(event: StoredEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.type,
        "date": to_bson_date(event.date),
        "charging_station_id": event.charging_station_id,
        "envelope": event.envelope,
        "body": Binary(event.body),
        "expiring": expires(event.type),
    }


class MongoEventStorage(EventStorage):
    def __init__(self, collection: Collection, client: MongoClient | None = None) -> None:
        self._collection = collection
        self._client = client

    @classmethod
    def connect(cls, url: str, database: str, retention_days: int | None) -> MongoEventStorage:
        client: MongoClient = MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)
        storage = cls(client[database][COLLECTION], client)
        storage.ensure_indexes(retention_days)
        return storage

    def ensure_indexes(self, retention_days: int | None) -> None:
        existing = self._collection.index_information()
        for keys, options in index_specs(retention_days):
            current = existing.get(options["name"])
            if current is not None and (
                    [tuple(k) for k in current["key"]] != keys
                    or current.get("expireAfterSeconds") != options.get("expireAfterSeconds")
                    or current.get("partialFilterExpression")
                    != options.get("partialFilterExpression")):
                self._collection.drop_index(options["name"])  # changed definition: re-create
            self._collection.create_index(keys, **options)

    def save_many(self, events: Sequence[StoredEvent]) -> int:
        if not events:
            return 0
        try:
            return len(self._collection.insert_many(
                [to_document(e) for e in events], ordered=False).inserted_ids)
        except BulkWriteError as error:
            others = [e for e in error.details.get("writeErrors", [])
                      if e.get("code") != DUPLICATE_KEY]
            if others or error.details.get("writeConcernErrors"):
                raise
            return int(error.details.get("nInserted", 0))

    def get(self, event_id: str) -> StoredEvent | None:
        document = self._collection.find_one({"event_id": event_id}, {"body": 1})
        return _to_event(document) if document else None

    def find(self, query: EventQuery) -> list[StoredEvent]:
        cursor = self._collection.find(build_filter(query), {"body": 1}).sort(SORT)
        return [_to_event(document) for document in cursor.limit(query.limit)]

    def stats(self, start_date: datetime | None, end_date: datetime | None) -> EventStats:
        match = _range_filter(start_date, end_date)
        by_type = {row["_id"]: row["count"] for row in self._collection.aggregate([
            {"$match": match}, {"$group": {"_id": "$type", "count": {"$sum": 1}}},
            {"$sort": {"_id": 1}}])}
        by_day = {row["_id"]: row["count"] for row in self._collection.aggregate([
            {"$match": match},
            {"$group": {"_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$date"}},
                        "count": {"$sum": 1}}},
            {"$sort": {"_id": 1}}])}
        return EventStats(total=sum(by_type.values()), by_type=by_type, by_day=by_day)

    def delete_older_than(self, cutoff: datetime) -> int:
        return self._collection.delete_many({"date": {"$lt": to_bson_date(cutoff)},
                                             "expiring": True}).deleted_count

    def ping(self) -> None:
        self._collection.database.command("ping")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _to_event(document: dict[str, Any]) -> StoredEvent:
    return parse_event(bytes(document["body"]))
