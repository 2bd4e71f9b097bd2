"""Synthetic but realistic event bodies, generated fast (string templates, no json.dumps):
`stations` stations over `days` days, events spread evenly over each day in date order
(as ingestion writes them); a mix of heartbeats, status notifications, meter values and
transactions, 350-700 bytes each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from event_store.domain.events import StoredEvent

DAY0 = datetime(2026, 9, 1, tzinfo=UTC)
_EPOCH_S = int(DAY0.timestamp())

_COMMON = ('{{"event_id":"{eid}","type":"ocpp-events.{kind}","schema_version":1,'
           '"charging_station_id":"{station}","ocpp_version":"1.6","connection_id":'
           '"c0ffee00-0000-4000-8000-{conn:012x}","message_id":"{mid}","action":"{action}",'
           '"received_at":"{at}","payload":{payload},"response":{response}}}')

_KINDS = [
    ("heart-beat", "Heartbeat", '{{}}', '{{"currentTime":"{at}"}}'),
    ("status-notification", "StatusNotification",
     '{{"connectorId":1,"status":"Charging","errorCode":"NoError","timestamp":"{at}"}}', '{{}}'),
    ("meter-values", "MeterValues",
     '{{"connectorId":1,"transactionId":{mid},"meterValue":[{{"timestamp":"{at}",'
     '"sampledValue":[{{"value":"{mid}","measurand":"Energy.Active.Import.Register",'
     '"unit":"Wh"}},{{"value":"7.21","measurand":"Power.Active.Import","unit":"kW"}},'
     '{{"value":"230.1","measurand":"Voltage","unit":"V"}}]}}]}}', '{{}}'),
    ("meter-values", "MeterValues",
     '{{"connectorId":2,"transactionId":{mid},"meterValue":[{{"timestamp":"{at}",'
     '"sampledValue":[{{"value":"{mid}","measurand":"Energy.Active.Import.Register",'
     '"unit":"Wh"}}]}}]}}', '{{}}'),
    ("start-transaction", "StartTransaction",
     '{{"connectorId":1,"idTag":"TAG-{mid}","meterStart":1000,"timestamp":"{at}"}}',
     '{{"transactionId":{mid},"idTagInfo":{{"status":"Accepted"}}}}'),
    ("stop-transaction", "StopTransaction",
     '{{"transactionId":{mid},"meterStop":9000,"timestamp":"{at}","reason":"Local"}}',
     '{{"idTagInfo":{{"status":"Accepted"}}}}'),
    ("status-notification", "StatusNotification",
     '{{"connectorId":2,"status":"Available","errorCode":"NoError","timestamp":"{at}"}}',
     '{{}}'),
    ("authorize", "Authorize", '{{"idTag":"TAG-{mid}"}}',
     '{{"idTagInfo":{{"status":"Accepted"}}}}'),
]


def station_id(index: int) -> str:
    return f"CP-{index:05d}"


def event_id(sequence: int) -> str:
    return f"00000000-0000-4000-8000-{sequence:012x}"


def _at(seconds: int, micros: int) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{micros:06d}Z"


def bodies(stations: int, days: int, total: int, first_sequence: int = 0
           ) -> Iterator[tuple[str, str, datetime, str, bytes]]:
    """(event_id, type, date, station, body) in date order; `total` spread over the range."""
    span_us = days * 86_400 * 1_000_000
    step_us = span_us / total
    for n in range(total):
        offset_us = int(n * step_us)
        seconds, micros = divmod(offset_us, 1_000_000)
        seq = first_sequence + n
        kind, action, payload, response = _KINDS[(n // stations) % len(_KINDS)]
        at = _at(_EPOCH_S + seconds, micros)
        station = station_id(n % stations)
        mid = str(seq)
        body = _COMMON.format(
            eid=event_id(seq), kind=kind, station=station, conn=n % stations, mid=mid,
            action=action, at=at, payload=payload.format(at=at, mid=mid),
            response=response.format(at=at, mid=mid))
        yield (event_id(seq), f"ocpp-events.{kind}",
               DAY0 + timedelta(microseconds=offset_us), station, body.encode())


def stored_events(stations: int, days: int, total: int, first_sequence: int = 0
                  ) -> Iterator[StoredEvent]:
    """For the adapter's batch insert; the parsed envelope is not needed by `save_many`
    and is left empty to keep seeding fast (the body is the envelope as received)."""
    for eid, kind, date, station, body in bodies(stations, days, total, first_sequence):
        yield StoredEvent(eid, kind, date, station, {}, body)
