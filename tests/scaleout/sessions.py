"""A scripted fleet of OCPP 1.6 chargers spread over several gateways, and the final state the
script implies (for comparison with save-server's)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field

from tests.e2e.charger import Charger, now_iso

TAG = "TAG-SCALE"
ERROR_REASON = "EVDisconnected"  # not Local/Remote/None → the charge is `error`


@dataclass
class StationScript:
    """What station number `index` does; the rules below decide its expected final state."""

    index: int
    station_id: str

    @property
    def reconnects_mid_session(self) -> bool:
        return self.index % 5 == 1

    @property
    def leaves_second_charge_open(self) -> bool:
        return self.index % 4 == 0

    @property
    def first_stop_reason(self) -> str:
        return ERROR_REASON if self.index % 10 == 3 else "Local"

    def meter(self, session: int) -> tuple[int, int]:
        start = 10_000 * session + self.index
        return start, start + 100 * (self.index + 1) + 7 * session

    def expected_charges(self) -> list[tuple]:
        """(connector_id, status, stop_reason, meter_start_wh, meter_stop_wh, energy_wh)."""
        start, stop = self.meter(1)
        first_status = "error" if self.first_stop_reason == ERROR_REASON else "finished"
        charges = [(1, first_status, self.first_stop_reason, start, stop, stop - start)]
        start, stop = self.meter(2)
        if self.leaves_second_charge_open:
            charges.append((2, "charging", None, start, None, None))
        else:
            charges.append((2, "finished", "Local", start, stop, stop - start))
        return sorted(charges)

    def expected_connectors(self) -> dict[int, str]:
        return {1: "available", 2: "in_use" if self.leaves_second_charge_open else "available"}


@dataclass
class Traffic:
    """What the chargers sent: (station, OCPP message id) per call, and connections opened."""

    calls: Counter = field(default_factory=Counter)
    connections: Counter = field(default_factory=Counter)
    first_starts: int = 0
    first_starts_done: asyncio.Event = field(default_factory=asyncio.Event)
    kill_after_first_starts: int = 0


class _Station:
    def __init__(self, script: StationScript, gateways: list[str], traffic: Traffic) -> None:
        self.script, self.gateways, self.traffic = script, gateways, traffic
        self.gateway = script.index % len(gateways)
        self.charger: Charger | None = None

    async def connect(self) -> None:
        url = f"{self.gateways[self.gateway]}/ocpp/{self.script.station_id}"
        self.charger = await Charger(url).__aenter__()
        self.traffic.connections[self.script.station_id] += 1

    async def close(self) -> None:
        assert self.charger
        self.traffic.calls.update((self.script.station_id, m)
                                  for m in self.charger.sent_message_ids)
        await self.charger.__aexit__(None, None, None)
        self.charger = None

    async def call(self, action: str, payload: dict) -> dict:
        assert self.charger
        await asyncio.sleep(random.uniform(0, 0.05))  # interleave stations
        return await self.charger.call(action, payload)

    async def status(self, connector_id: int, status: str) -> None:
        await self.call("StatusNotification", {"connectorId": connector_id,
                                               "errorCode": "NoError", "status": status,
                                               "timestamp": now_iso()})

    async def start(self, connector_id: int, meter_start: int) -> int:
        await self.call("Authorize", {"idTag": TAG})
        started = await self.call("StartTransaction", {
            "connectorId": connector_id, "idTag": TAG, "meterStart": meter_start,
            "timestamp": now_iso()})
        await self.status(connector_id, "Charging")
        return started["transactionId"]

    async def meter_values(self, connector_id: int, transaction_id: int, wh: int) -> None:
        await self.call("MeterValues", {
            "connectorId": connector_id, "transactionId": transaction_id,
            "meterValue": [{"timestamp": now_iso(), "sampledValue": [
                {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": str(7000 + self.script.index), "measurand": "Power.Active.Import",
                 "unit": "W"}]}]})

    async def stop(self, connector_id: int, transaction_id: int, meter_stop: int,
                   reason: str) -> None:
        await self.call("StopTransaction", {"transactionId": transaction_id,
                                            "meterStop": meter_stop, "timestamp": now_iso(),
                                            "reason": reason})
        await self.status(connector_id, "Finishing")
        await self.status(connector_id, "Available")

    async def run(self) -> None:
        script = self.script
        await asyncio.sleep(random.uniform(0, 1.0))
        await self.connect()
        await self.call("BootNotification", {"chargePointVendor": "SAVE",
                                             "chargePointModel": f"Wallbox-{script.index % 3}",
                                             "chargePointSerialNumber": f"SN-{script.index}",
                                             "firmwareVersion": "1.0"})
        for connector_id in (0, 1, 2):
            await self.status(connector_id, "Available")
        start, stop = script.meter(1)
        transaction = await self.start(1, start)
        self.traffic.first_starts += 1
        if self.traffic.first_starts >= self.traffic.kill_after_first_starts:
            self.traffic.first_starts_done.set()
        await self.meter_values(1, transaction, start + 10)
        if script.reconnects_mid_session:  # a quiet 1.6 reconnect, to the other gateway
            await self.close()
            self.gateway = (self.gateway + 1) % len(self.gateways)
            await self.connect()
        await self.meter_values(1, transaction, stop - 10)
        await self.call("Heartbeat", {})
        await self.stop(1, transaction, stop, script.first_stop_reason)
        start, stop = script.meter(2)
        transaction = await self.start(2, start)
        await self.meter_values(2, transaction, start + 5)
        if not script.leaves_second_charge_open:
            await self.stop(2, transaction, stop, "Local")
        await self.close()


async def drive(scripts: list[StationScript], gateways: list[str], traffic: Traffic) -> None:
    """Run every station's script concurrently."""
    stations = [_Station(script, gateways, traffic) for script in scripts]
    try:
        await asyncio.gather(*(station.run() for station in stations))
    finally:
        for station in stations:
            if station.charger is not None:
                await station.close()
