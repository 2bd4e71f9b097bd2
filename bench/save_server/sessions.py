"""Events of realistic OCPP 1.6 charging sessions, as the gateway publishes them
(docs/events.md): boot, statuses, authorize, start, meter values every minute, stop, heartbeat.
Stations run concurrently: the stream interleaves stations, each station's events in order."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
STOP_REASONS = ["Local"] * 12 + ["Remote"] * 6 + ["EVDisconnected", "PowerLoss", "EmergencyStop"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    event_id: str
    type: str
    station_id: str
    body: bytes


@dataclass
class SimulatedStation:
    station_id: str
    rng: random.Random
    now: datetime = T0
    connection_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    meter_wh: int = 0

    def _event(self, kind: str, action: str, payload: dict[str, Any],
               response: dict[str, Any] | None) -> Event:
        self.now += timedelta(seconds=self.rng.uniform(1, 5))
        event_id = str(uuid.uuid4())
        envelope = {"event_id": event_id, "type": f"ocpp-events.{kind}", "schema_version": 1,
                    "charging_station_id": self.station_id, "ocpp_version": "1.6",
                    "connection_id": self.connection_id,
                    "message_id": str(self.rng.randrange(10**9)), "action": action,
                    "received_at": iso(self.now), "payload": payload, "response": response}
        return Event(event_id, envelope["type"], self.station_id,
                     json.dumps(envelope, separators=(",", ":")).encode())

    def status(self, connector: int, status: str) -> Event:
        return self._event("status-notification", "StatusNotification", {
            "connectorId": connector, "status": status, "errorCode": "NoError",
            "timestamp": iso(self.now)}, {})

    def boot(self) -> Event:
        return self._event("boot-notification", "BootNotification", {
            "chargePointVendor": "ACME", "chargePointModel": "Wallbox 22",
            "chargePointSerialNumber": f"SN-{self.station_id}", "firmwareVersion": "1.2.3"},
            {"status": "Accepted", "currentTime": iso(self.now), "interval": 300})

    def session(self, transaction_id: int, meter_samples: int) -> Iterator[Event]:
        tag = f"TAG-{self.rng.randrange(5000)}"
        connector = self.rng.choice((1, 2))
        yield self._event("heart-beat", "Heartbeat", {}, {"currentTime": iso(self.now)})
        yield self._event("authorize", "Authorize", {"idTag": tag},
                          {"idTagInfo": {"status": "Accepted"}})
        yield self.status(connector, "Preparing")
        start = self.meter_wh
        yield self._event("start-transaction", "StartTransaction", {
            "connectorId": connector, "idTag": tag, "meterStart": start,
            "timestamp": iso(self.now)},
            {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}})
        yield self.status(connector, "Charging")
        for _ in range(meter_samples):
            self.now += timedelta(seconds=60)
            self.meter_wh += self.rng.randrange(80, 130)
            yield self._event("meter-values", "MeterValues", {
                "connectorId": connector, "transactionId": transaction_id,
                "meterValue": [{"timestamp": iso(self.now), "sampledValue": [
                    {"value": str(self.meter_wh), "measurand": "Energy.Active.Import.Register",
                     "unit": "Wh"},
                    {"value": f"{self.rng.uniform(6.5, 7.4):.2f}", "measurand":
                     "Power.Active.Import", "unit": "kW"},
                    {"value": f"{self.rng.uniform(228, 232):.1f}", "measurand": "Voltage",
                     "unit": "V"}]}]}, {})
        yield self._event("stop-transaction", "StopTransaction", {
            "transactionId": transaction_id, "meterStop": self.meter_wh,
            "timestamp": iso(self.now), "reason": self.rng.choice(STOP_REASONS),
            "idTag": tag}, {"idTagInfo": {"status": "Accepted"}})
        yield self.status(connector, "Finishing")
        yield self.status(connector, "Available")


def session_events(stations: int, total: int, seed: int = 7,
                   first_transaction_id: int = 10_000_000,
                   station_prefix: str = "CP-") -> list[Event]:
    """About `total` events: every station boots, then runs sessions one after another;
    stations are interleaved round-robin (each station's own order kept)."""
    rng = random.Random(seed)
    streams: list[list[Event]] = []
    per_station = max(1, total // stations)
    transaction_id = first_transaction_id
    for s in range(stations):
        station = SimulatedStation(f"{station_prefix}{s:05d}", random.Random(rng.random()))
        events = [station.boot(), station.status(0, "Available"), station.status(1, "Available"),
                  station.status(2, "Available")]
        while len(events) < per_station:
            transaction_id += 1
            events.extend(station.session(transaction_id, rng.randrange(3, 10)))
        streams.append(events[:per_station])
    interleaved = [e for i in range(per_station) for stream in streams
                   if i < len(stream) for e in (stream[i],)]
    return interleaved[:total]
