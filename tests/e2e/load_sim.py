"""A simulated condominium for site load management, over real websockets.

N stations (1.6 and 2.0.1 mixed) with virtual cars that arrive and leave at random, each car
drawing min(its maximum, the station's current limit) with a ramp and reporting its current
in MeterValues; one station that rejects every profile, one that answers them with a
CallError, one that goes offline mid-charge;
a building load that varies (posted to `POST /sites/{id}/measurements`). Time is compressed:
`speed` simulated seconds per wall second. Every tick the simulator records what the cars
really draw per phase: the physical truth the invariant checker compares with the limits.

By hand, against a running platform (`make run` prints its admin key):
    python -m tests.e2e.load_sim --gateway ws://127.0.0.1:9000 --api http://127.0.0.1:8080 \\
        --key csk_... --stations 12 --minutes 30 --speed 60
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.e2e.charger import now_iso
from tests.e2e.command_charger import CallErrorReply, CommandCharger

PHASES = ("L1", "L2", "L3")
RAMP_A_PER_TICK = 8.0  # a car rises this much per tick at most; it obeys decreases at once


@dataclass
class Config:
    stations: int = 12
    minutes: float = 30.0
    speed: float = 60.0  # simulated seconds per wall second
    tick_s: float = 30.0  # simulated seconds between meter values
    limit_a: float = 63.0
    seed: int = 1
    rejecting: int = 1  # station index that rejects every profile (-1: none)
    erring: int = 3  # station index that answers every profile with a CallError (-1: none)
    offline: int = 2  # station index that goes offline mid-charge (-1: none)
    building_metered: bool = True


@dataclass
class Sample:
    wall: float
    draws: dict[str, float]  # per phase, all cars together
    building: dict[str, float]
    offline: bool  # the offline station is gone
    stations: dict[str, tuple[float, float]] = field(default_factory=dict)  # draw, limit


@dataclass
class SimStation:
    url: str
    station_id: str
    version: str
    rejects: bool = False
    errs: bool = False
    max_a: float = 16.0  # 11 kW three-phase wallboxes
    default_a: float | None = None
    tx_limits: dict[str, float] = field(default_factory=dict)
    caps: dict[int, tuple[float, datetime | None]] = field(default_factory=dict)  # stack level
    transaction: str | None = None
    car_max: float = 0.0
    draw: float = 0.0
    seq: int = 0
    online: bool = False
    charger: CommandCharger | None = None
    profiles: list[tuple[str, float, str]] = field(default_factory=list)

    @property
    def id_tag(self) -> str:
        """The card of this station's car: each car its own, as in a condominium (one tag
        shared by thousands of cars made every start and stop carry the tag's whole list of
        running charges, and its concurrent-charge limit stop the others)."""
        return f"SIM-{hashlib.sha1(self.station_id.encode()).hexdigest()[:12]}"

    @property
    def subprotocol(self) -> str:
        return "ocpp1.6" if self.version == "1.6" else "ocpp2.0.1"

    def limit(self) -> float:
        if self.transaction is not None and self.transaction in self.tx_limits:
            own = self.tx_limits[self.transaction]
        else:
            own = self.max_a if self.default_a is None else self.default_a
        now = datetime.now(UTC)  # the station max profile of the highest valid stack level
        valid = [(level, cap) for level, (cap, until) in self.caps.items()
                 if until is None or until > now]
        return min(own, max(valid)[1]) if valid else own

    def respond(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | CallErrorReply:
        if action != "SetChargingProfile":
            return {"status": "Accepted"}
        if self.errs:
            self.profiles.append(("?", 0.0, "CallError"))
            return CallErrorReply("InternalError", "profiles are not for me")
        profile = payload.get("csChargingProfiles") or payload.get("chargingProfile") or {}
        schedule = profile.get("chargingSchedule")
        schedule = schedule[0] if isinstance(schedule, list) else schedule
        limit = float(schedule["chargingSchedulePeriod"][0]["limit"])
        purpose = profile.get("chargingProfilePurpose")
        self.profiles.append((str(purpose), limit, "Rejected" if self.rejects else "Accepted"))
        if self.rejects:
            return {"status": "Rejected"}
        if purpose == "TxProfile":
            self.tx_limits[str(profile.get("transactionId"))] = limit
        elif purpose in ("ChargePointMaxProfile", "ChargingStationMaxProfile"):
            until = profile.get("validTo")
            self.caps[int(profile.get("stackLevel", 0))] = (limit, None if until is None else
                                                            datetime.fromisoformat(
                                                                until.replace("Z", "+00:00")))
        else:
            self.default_a = limit
        self.draw = min(self.draw, self.limit())  # decreases are obeyed at once
        return {"status": "Accepted"}

    async def connect(self) -> None:
        self.charger = CommandCharger(f"{self.url}/ocpp/{self.station_id}", self.subprotocol,
                                      self.respond)
        await self.charger.__aenter__()
        self.online = True
        await self.charger.boot()

    async def disconnect(self) -> None:
        self.online = False
        if self.charger is not None:
            await self.charger.close()

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.charger is not None
        return await self.charger.call(action, payload)

    async def arrive(self, car_max: float) -> None:
        self.car_max, self.draw = car_max, 0.0
        if self.version == "1.6":
            answer = await self.call("StartTransaction", {
                "connectorId": 1, "idTag": self.id_tag, "meterStart": 0, "timestamp": now_iso()})
            self.transaction = str(answer["transactionId"])
            await self.call("StatusNotification", self.charger.status_payload(1, "Charging"))
        else:
            self.transaction, self.seq = f"tx-{uuid.uuid4().hex[:10]}", 0
            await self.call("TransactionEvent", self._event("Started", "Authorized"))

    async def leave(self) -> None:
        transaction, self.transaction, self.draw = self.transaction, None, 0.0
        if not self.online or transaction is None:
            return
        if self.version == "1.6":
            await self.call("StopTransaction", {"transactionId": int(transaction),
                                                "meterStop": 0, "timestamp": now_iso()})
            await self.call("StatusNotification", self.charger.status_payload(1, "Available"))
        else:
            self.transaction = transaction
            await self.call("TransactionEvent", self._event("Ended", "EVDeparted"))
            self.transaction = None

    def step(self) -> None:
        """One tick of the car: up by the ramp towards what it may draw, down at once."""
        if self.transaction is None:
            self.draw = 0.0
            return
        target = min(self.car_max, self.limit())
        self.draw = min(target, self.draw + RAMP_A_PER_TICK)

    async def report(self) -> None:
        if not self.online or self.transaction is None:
            return
        sampled = [{"value": round(self.draw, 2), "measurand": "Current.Import", "phase": p,
                    "unit" if self.version == "1.6" else "unitOfMeasure":
                    "A" if self.version == "1.6" else {"unit": "A"}} for p in PHASES]
        if self.version == "1.6":
            for s in sampled:
                s["value"] = str(s["value"])
            await self.call("MeterValues", {"connectorId": 1,
                                            "transactionId": int(self.transaction),
                                            "meterValue": [{"timestamp": now_iso(),
                                                            "sampledValue": sampled}]})
        else:
            await self.call("TransactionEvent", self._event(
                "Updated", "MeterValuePeriodic",
                meterValue=[{"timestamp": now_iso(), "sampledValue": sampled}]))

    def _event(self, kind: str, trigger: str, **extra: Any) -> dict[str, Any]:
        self.seq += 1
        return {"eventType": kind, "timestamp": now_iso(), "triggerReason": trigger,
                "seqNo": self.seq, "evse": {"id": 1, "connectorId": 1},
                "transactionInfo": {"transactionId": self.transaction,
                                    **({"chargingState": "Charging"} if kind != "Ended"
                                       else {"stoppedReason": "EVDisconnected"})}, **extra}


class Site:
    """Creates the site, registers the stations and describes the electrical model."""

    def __init__(self, api: str, headers: dict[str, str], config: Config) -> None:
        self.api, self.headers, self.config = api, headers, config
        self.site_id = ""
        self.model: dict[str, Any] = {}

    def create(self, station_ids: list[str], versions: list[str]) -> None:
        with httpx.Client(base_url=self.api, headers=self.headers, timeout=30) as client:
            answer = client.post("/sites", json={"name": f"Sim {uuid.uuid4().hex[:6]}"})
            answer.raise_for_status()
            self.site_id = answer.json()["site_id"]
            for station_id, version in zip(station_ids, versions, strict=True):
                client.post("/charging-stations", json={
                    "charging_station_id": station_id, "security_profile": 0,
                    "site_id": self.site_id, "ocpp_version": version}).raise_for_status()
            answer = client.put(f"/sites/{self.site_id}/electrical", json={
                "supply": "three-phase", "voltage_v": 220, "limit_a": self.config.limit_a,
                "building_metered": self.config.building_metered,
                "measurement_max_age_s": 3600,
                "connectors": [{"charging_station_id": s, "connector_id": 1,
                                "phases": list(PHASES), "max_a": 16} for s in station_ids]})
            answer.raise_for_status()
            self.model = answer.json()

    def measure(self, per_phase: dict[str, float]) -> None:
        with httpx.Client(base_url=self.api, headers=self.headers, timeout=30) as client:
            client.post(f"/sites/{self.site_id}/measurements", json={
                "per_phase_a": per_phase,
                "measured_at": datetime.now(UTC).isoformat()}).raise_for_status()


@dataclass
class Run:
    site: Site
    stations: list[SimStation]
    samples: list[Sample]
    started: float
    ended: float
    building_changes: list[float]


async def simulate(gateway: str, api: str, headers: dict[str, str], config: Config) -> Run:
    rng = random.Random(config.seed)
    versions = ["1.6" if i % 2 == 0 else "2.0.1" for i in range(config.stations)]
    stations = [SimStation(gateway, f"SIM-{uuid.uuid4().hex[:8]}-{i}", versions[i],
                           rejects=i == config.rejecting, errs=i == config.erring)
                for i in range(config.stations)]
    site = Site(api, headers, config)
    await asyncio.to_thread(site.create, [s.station_id for s in stations], versions)
    building = {p: 5.0 for p in PHASES}
    await asyncio.to_thread(site.measure, building)
    await asyncio.gather(*(s.connect() for s in stations))
    tick_wall = config.tick_s / config.speed
    ticks = int(config.minutes * 60 / config.tick_s)
    samples: list[Sample] = []
    changes: list[float] = []
    started = time.monotonic()
    for tick in range(ticks):
        if tick % 6 == 3:  # every 3 simulated minutes the building's own load moves
            new = {p: round(rng.uniform(0, 12), 1) for p in PHASES}
            if any(new[p] > building[p] for p in PHASES):
                changes.append(time.monotonic())
            await asyncio.to_thread(site.measure, new)
            building = new
        for index, station in enumerate(stations):
            if not station.online:
                continue
            if station.transaction is None and rng.random() < 0.15:
                await station.arrive(rng.choice([10.0, 16.0]))
            elif station.transaction is not None and rng.random() < 0.03:
                await station.leave()
            if index == config.offline and tick == ticks // 3:
                if station.transaction is None:
                    await station.arrive(16.0)
                await station.disconnect()  # mid-charge: it goes on under its last profile
        for station in stations:
            station.step()
        await asyncio.gather(*(s.report() for s in stations))
        draws = {p: sum(s.draw for s in stations) for p in PHASES}
        samples.append(Sample(time.monotonic(), draws, dict(building),
                              not stations[config.offline].online
                              if config.offline >= 0 else False,
                              {s.station_id: (s.draw, s.limit()) for s in stations}))
        await asyncio.sleep(max(0.0, started + (tick + 1) * tick_wall - time.monotonic()))
    ended = time.monotonic()
    for station in stations:
        if station.online:
            await station.leave()
            await station.disconnect()
    return Run(site, stations, samples, started, ended, changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", default="ws://127.0.0.1:9000")
    parser.add_argument("--api", default="http://127.0.0.1:8080")
    parser.add_argument("--key", required=True, help="an operator's or admin's API key")
    parser.add_argument("--stations", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--speed", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = Config(stations=args.stations, minutes=args.minutes, speed=args.speed,
                    seed=args.seed)
    run = asyncio.run(simulate(args.gateway, args.api, {"Authorization": f"Bearer {args.key}"},
                               config))
    peak = max(max(s.draws[p] + s.building[p] for p in PHASES) for s in run.samples)
    print(json.dumps({"site_id": run.site.site_id, "ticks": len(run.samples),
                      "peak_phase_a": round(peak, 2), "limit_a": config.limit_a,
                      "profiles": {s.station_id: len(s.profiles) for s in run.stations}},
                     indent=2))


if __name__ == "__main__":
    main()
