"""Allocation lag through the full path: a simulated station starts a charge over its websocket
(1.6 StartTransaction or 2.0.1 TransactionEvent Started) → gateway → broker → save-server's
load queue → allocation → SetChargingProfile through the command path → gateway → the same
station receives the TxProfile for that transaction. The lag of a start is from just before
its call to the moment the station gets that profile. A start whose allocation equals the
station's accepted failsafe needs no TxProfile: counted apart ("no profile needed").

S sites of N stations each (1.6 and 2.0.1 mixed, 16 A three-phase, 63 A supply); random starts
and stops at R per second over all stations. Same-run baseline: the same stream at R / 10. The
platform is started as `make run` (embedded) or as separate services (`--mode services`, the
real RabbitMQ and PostgreSQL), with `LOAD_PROFILE_MIN_INTERVAL_SECONDS=1` so that the per
connector rate limit of increases (a deliberate delay, 30 s by default) does not count as lag.
It reuses the e2e platform launcher and simulated stations (`tests/e2e`).

    flock /tmp/csms-bench.lock .venv/bin/python -m bench.load.path --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common.machine import machine_lines
from tests.e2e.command_charger import CallErrorReply
from tests.e2e.load_sim import Config, SimStation, Site
from tests.e2e.platform import Platform, embedded_platform, services_platform

NO_PROFILE_WAIT_S = 5.0  # after this, a start is counted as needing no profile


class TimedStation(SimStation):
    """Records when the TxProfile of each of its transactions arrives."""

    pending: dict[tuple[str, str], float]
    arrived: dict[tuple[str, str], float]

    def respond(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | CallErrorReply:
        if action == "SetChargingProfile":
            profile = payload.get("csChargingProfiles") or payload.get("chargingProfile") or {}
            key = (self.station_id, str(profile.get("transactionId")))
            if profile.get("chargingProfilePurpose") == "TxProfile":  # may come before the
                self.arrived.setdefault(key, time.perf_counter())  # start's answer is read
        return super().respond(action, payload)


async def start(station: TimedStation) -> None:
    started = time.perf_counter()
    await station.arrive(16.0)  # 1.6: the transaction id comes with the answer
    station.pending[(station.station_id, str(station.transaction))] = started


async def stream(stations: list[TimedStation], rate: float, seconds: float, seed: int
                 ) -> tuple[list[float], int]:
    pending: dict[tuple[str, str], float] = {}
    arrived: dict[tuple[str, str], float] = {}
    for station in stations:
        station.pending, station.arrived = pending, arrived
    rng, tasks, sent = random.Random(seed), set(), 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        due = int((time.perf_counter() - began) * rate)
        for _ in range(due - sent):
            station = rng.choice(stations)
            call = start(station) if station.transaction is None else station.leave()
            task = asyncio.create_task(call)
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sent = max(sent, due)
        await asyncio.sleep(0.005)
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(NO_PROFILE_WAIT_S)
    lags = [arrived[k] - t for k, t in pending.items() if k in arrived]
    await asyncio.gather(*(s.leave() for s in stations if s.transaction is not None),
                         return_exceptions=True)
    return lags, len(pending) - len(lags)


async def bench(platform: Platform, args: argparse.Namespace) -> None:
    stations: list[TimedStation] = []
    for s in range(args.sites):
        versions = ["1.6" if i % 2 == 0 else "2.0.1" for i in range(args.stations)]
        group = [TimedStation(platform.gateway_url, f"LAG-{uuid.uuid4().hex[:6]}-{s}-{i}",
                              versions[i]) for i in range(args.stations)]
        site = Site(platform.save_server_url, platform.headers,
                    Config(limit_a=63.0, building_metered=False))
        await asyncio.to_thread(site.create, [g.station_id for g in group], versions)
        stations += group
    for chunk in range(0, len(stations), 50):
        await asyncio.gather(*(s.connect() for s in stations[chunk:chunk + 50]))
    await asyncio.sleep(3.0)  # every station gets its failsafe
    for rate in (args.rate / 10, args.rate):
        lags, none = await stream(stations, rate, args.seconds, args.seed)
        print(f"{rate:g} starts/stops per second: {summary(lags)}; no profile needed: {none}")
        if rate == args.rate:
            p99 = percentile(lags, .99)
            print(f"target lag p99 ≤ 1 s at {rate:g}/s: {p99:.3f} s → "
                  f"{'PASS' if p99 <= 1 else 'FAIL'}")
    await asyncio.gather(*(s.disconnect() for s in stations), return_exceptions=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 9e9


def summary(lags: list[float]) -> str:
    if not lags:
        return "no profile received"
    return (f"{len(lags)} profiles, lag p50 {percentile(lags, .5) * 1000:.1f} ms, "
            f"p99 {percentile(lags, .99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["embedded", "services"], default="embedded")
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--stations", type=int, default=6, help="per site")
    parser.add_argument("--rate", type=float, default=20.0, help="starts/stops per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for line in machine_lines(sys.argv):
        print(line)
    os.environ.setdefault("LOAD_PROFILE_MIN_INTERVAL_SECONDS", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    launch = embedded_platform if args.mode == "embedded" else services_platform
    with tempfile.TemporaryDirectory() as tmp, launch(Path(tmp)) as platform:
        asyncio.run(bench(platform, args))


if __name__ == "__main__":
    main()
