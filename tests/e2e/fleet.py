"""A fleet of OCPP 1.6 chargers that keep charging (start, meter values, stop) through platform
restarts, remembering what they were answered, and the checks of that against the event store
and save-server (tests/e2e/test_graceful_stop.py, test_embedded_crash.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field

import websockets

from tests.e2e.charger import CallFailed, Charger, now_iso
from tests.e2e.platform import Platform
from tests.scaleout.state import charges, get_all

PACE = 0.25  # seconds between one station's calls: 30 stations ≈ 120 calls/s
METER_VALUES_PER_CHARGE = 3


@dataclass
class Fleet:
    """What the chargers were told: answered calls, and the charges they started and stopped."""

    run: str
    stations: int
    answered: dict[tuple[str, str], str] = field(default_factory=dict)  # (station, msg id)
    # (station, transaction id as save-server shows it) → meterStart, meterStop
    started: dict[tuple[str, str], int] = field(default_factory=dict)
    stopped: dict[tuple[str, str], int] = field(default_factory=dict)
    answered_while_stopping: int = 0
    stopping: bool = False
    done: bool = False
    url: str = ""

    def station_ids(self) -> list[str]:
        return [f"{self.prefix}{n}" for n in range(self.stations)]

    @property
    def prefix(self) -> str:
        return f"FLEET-{self.run}-"

    def start(self, url: str) -> list[asyncio.Task]:
        """Every station's charger as a task (they reconnect while the platform restarts)."""
        self.url = url
        return [asyncio.create_task(station(self, sid)) for sid in self.station_ids()]


async def call(fleet: Fleet, station_id: str, charger: Charger, action: str,
               payload: dict) -> dict:
    await asyncio.sleep(PACE)
    result = await charger.call(action, payload)
    fleet.answered[(station_id, charger.sent_message_ids[-1])] = action
    fleet.answered_while_stopping += fleet.stopping
    return result


async def one_connection(fleet: Fleet, station_id: str, meter: list[int],
                         open_transaction: list[int]) -> None:
    """Boot, then charges (start, meter values, stop) until the connection closes. A charge
    left open by a lost connection is stopped first on the next one, as a charger does."""
    async with Charger(f"{fleet.url}/ocpp/{station_id}") as charger:
        await call(fleet, station_id, charger, "BootNotification",
                   {"chargePointVendor": "SAVE", "chargePointModel": "Wallbox-1"})
        while not fleet.done:
            if not open_transaction:
                started = await call(fleet, station_id, charger, "StartTransaction", {
                    "connectorId": 1, "idTag": "TAG-STOP", "meterStart": meter[0],
                    "timestamp": now_iso()})
                open_transaction.append(started["transactionId"])
                fleet.started[(station_id, str(started["transactionId"]))] = meter[0]
            transaction_id = open_transaction[0]
            for _ in range(METER_VALUES_PER_CHARGE):
                meter[0] += 10
                await call(fleet, station_id, charger, "MeterValues", {
                    "connectorId": 1, "transactionId": transaction_id,
                    "meterValue": [{"timestamp": now_iso(), "sampledValue": [
                        {"value": str(meter[0]), "measurand": "Energy.Active.Import.Register",
                         "unit": "Wh"}]}]})
            await call(fleet, station_id, charger, "StopTransaction", {
                "transactionId": transaction_id, "meterStop": meter[0],
                "timestamp": now_iso(), "reason": "Local"})
            fleet.stopped[(station_id, str(transaction_id))] = meter[0]
            open_transaction.clear()


async def station(fleet: Fleet, station_id: str) -> None:
    meter, open_transaction = [1_000], []
    while not fleet.done:
        with contextlib.suppress(websockets.ConnectionClosed, websockets.InvalidHandshake,
                                 OSError, TimeoutError, CallFailed):
            await one_connection(fleet, station_id, meter, open_transaction)
        await asyncio.sleep(0.1)  # the platform is restarting: try again


def missing_events(platform: Platform, fleet: Fleet) -> tuple[list, list]:
    """Answered calls without an event; connections without a disconnect event."""
    stored = [e for e in get_all(f"{platform.event_store_url}/events", {"limit": 1000})
              if (e["charging_station_id"] or "").startswith(fleet.prefix)
              and e["type"].startswith("ocpp-events.")]  # not the platform's own commands
    calls = {(e["charging_station_id"], e["message_id"]) for e in stored if e["message_id"]}
    types = Counter((e["connection_id"], e["type"]) for e in stored)
    connections = {c for c, t in types if t == "ocpp-events.connect"}
    unclosed = sorted(c for c in connections if not types[(c, "ocpp-events.disconnect")])
    return sorted(set(fleet.answered) - calls), unclosed


def wrong_charges(platform: Platform, fleet: Fleet) -> list[str]:
    """Every answered start is a charge with its meterStart; every answered stop finished it."""
    found = charges(platform.save_server_url)
    wrong = []
    for key, meter_start in fleet.started.items():
        charge = found.get(key)
        if charge is None or charge["meter_start_wh"] != meter_start:
            wrong.append(f"start {key}: {charge}")
    for key, meter_stop in fleet.stopped.items():
        charge = found.get(key) or {}
        if charge.get("status") != "finished" or charge.get("meter_stop_wh") != meter_stop:
            wrong.append(f"stop {key}: {charge or None}")
    return wrong
