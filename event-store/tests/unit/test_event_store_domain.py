"""Parsing envelopes into stored events, poison detection, keyset cursors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from event_store.domain.events import InvalidEvent, parse_event
from event_store.domain.queries import Cursor, EventQuery, InvalidCursor


def test_parse_event_takes_indexed_fields_from_the_envelope(envelope):
    body = envelope(station="CP-1", event_type="ocpp-events.boot-notification",
                    received_at="2026-11-25T12:00:00.5Z")
    event = parse_event(body)
    assert event.type == "ocpp-events.boot-notification"
    assert event.charging_station_id == "CP-1"
    assert event.date == datetime(2026, 11, 25, 12, 0, 0, 500000, tzinfo=UTC)
    assert event.body == body
    assert event.routing_key == event.type


def test_parse_event_converts_an_offset_to_utc(envelope):
    event = parse_event(envelope(received_at="2026-11-25T14:00:00+02:00"))
    assert event.date == datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert event.date.utcoffset() == timedelta(0)


def test_public_document_has_indexed_fields_and_the_rest_of_the_envelope(envelope):
    document = parse_event(envelope(received_at="2026-11-25T12:00:00Z",
                                    payload={"idTag": "X"})).as_document()
    assert document["date"] == "2026-11-25T12:00:00.000000Z"
    assert document["payload"] == {"idTag": "X"}
    assert document["ocpp_version"] == "1.6"
    assert document["gateway_extra_field"] == "kept as received"


def _mutated(envelope, **changes) -> bytes:
    data = json.loads(envelope())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(("make_body", "message"), [
    (lambda env: b"not json", "not UTF-8 JSON"),
    (lambda env: b"\xff\xfe", "not UTF-8 JSON"),
    (lambda env: b"[1, 2]", "not a JSON object"),
    (lambda env: _mutated(env, event_id=None), "'event_id'"),
    (lambda env: _mutated(env, event_id=""), "'event_id'"),
    (lambda env: _mutated(env, type=12), "'type'"),
    (lambda env: _mutated(env, received_at="yesterday"), "'received_at'"),
    (lambda env: _mutated(env, charging_station_id=5), "'charging_station_id'"),
])
def test_a_message_that_is_not_an_envelope_is_poison(envelope, make_body, message):
    with pytest.raises(InvalidEvent, match=message):
        parse_event(make_body(envelope))


def test_cursor_round_trips_and_rejects_foreign_tokens():
    cursor = Cursor(datetime(2026, 11, 25, 12, 0, 0, 1, tzinfo=UTC), "5f0c8a5e|odd")
    assert Cursor.decode(cursor.encode()) == cursor
    for token in ("!!!", "bm8tc2VwYXJhdG9y", ""):
        with pytest.raises(InvalidCursor):
            Cursor.decode(token)


def test_query_dates_are_utc_and_limit_must_be_positive():
    query = EventQuery(start_date=datetime(2026, 1, 1, 12),
                       end_date=datetime(2026, 1, 1, 14, tzinfo=timezone(timedelta(hours=2))))
    assert query.start_date == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert query.end_date == datetime(2026, 1, 1, 12, tzinfo=UTC)
    with pytest.raises(ValueError):
        EventQuery(limit=0)


def test_a_stored_event_without_envelope_parses_the_body_only_when_asked(envelope):
    from event_store.domain.events import StoredEvent

    body = envelope(station="CP-L", payload={"meterStart": 5})
    event = StoredEvent("id-1", "ocpp-events.heart-beat", parse_event(body).date, "CP-L",
                        None, body)
    assert event._envelope is None  # nothing parsed for a replay that only re-sends the body
    assert event.envelope["payload"] == {"meterStart": 5}
    assert event.as_document()["charging_station_id"] == "CP-L"
    assert parse_event(body) == StoredEvent(*[getattr(parse_event(body), name) for name in (
        "event_id", "type", "date", "charging_station_id")], None, body)


@pytest.mark.parametrize("case", ["gateway", "date key", "no payload", "no station", "parsed"])
def test_document_json_is_as_document_whichever_path_it_takes(case):
    from event_store.domain.events import StoredEvent

    envelope = {"event_id": "e-1", "type": "ocpp-events.meter-values", "schema_version": 1,
                "charging_station_id": "CP-ü", "received_at": "2026-11-25T12:00:00.5Z",
                "payload": {"connectorId": 1}, "extra": [1, {"x": None}]}
    if case == "date key":
        envelope["payload"] = {"date": "2026-01-01"}
    elif case == "no payload":
        del envelope["payload"]
    elif case == "no station":
        del envelope["charging_station_id"]
    body = json.dumps(envelope, indent=1 if case == "gateway" else None).encode() + b"\n"
    parsed = parse_event(body)
    event = parsed if case == "parsed" else StoredEvent(
        parsed.event_id, parsed.type, parsed.date, parsed.charging_station_id, None, body)
    document = json.loads(event.document_json())
    assert document == event.as_document()
    assert list(document) == list(event.as_document())  # same key order as before
    assert document["date"] == "2026-11-25T12:00:00.500000Z"
