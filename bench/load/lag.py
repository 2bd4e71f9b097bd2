"""Allocation lag of the load-management service under a stream of charge starts and stops:
1,000 sites x 10 connectors, N events per second spread over the sites; the lag of a site is
from the first event that made it dirty to the end of its recomputation. In process: the
service (`service/load_allocation.py`) with the in-memory store and a sender that accepts at
once — the consumer's broker hop and the outbox commit are not part of it. Same-run baseline:
the same stream at a tenth of the rate.

    flock /tmp/csms-bench.lock .venv/bin/python -m bench.load.lag --rate 200 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import threading
import time
from typing import Any

from bench.common.machine import machine_lines
from save_server.domain.load.live import ChargeChanged, StationSeen
from save_server.domain.load.model import PHASES, ConnectorSupply, ElectricalModel, Supply
from save_server.domain.load.ports import ProfileSender
from save_server.infrastructure.load.memory import MemoryLoadStore
from save_server.service.load_allocation import LoadAllocation, Settings


class Accepting(ProfileSender):
    async def send(self, station_id: str, parameters: dict[str, Any]) -> str:
        return "accepted"


def sites(count: int, connectors: int) -> list[ElectricalModel]:
    return [ElectricalModel(f"site-{s}", Supply.THREE_PHASE, 220.0, 63.0, connectors=tuple(
        ConnectorSupply(f"S{s}-CP{c}", 1, PHASES if c % 2 else (PHASES[c % 3],))
        for c in range(connectors))) for s in range(count)]


class Lags:
    def __init__(self) -> None:
        self.pending: dict[str, float] = {}
        self.lags: list[float] = []
        self.lock = threading.Lock()

    def dirty(self, site_id: str) -> None:
        with self.lock:
            self.pending.setdefault(site_id, time.perf_counter())

    def done(self, model: ElectricalModel, *_: Any) -> None:
        with self.lock:
            started = self.pending.pop(model.site_id, None)
        if started is not None:
            self.lags.append(time.perf_counter() - started)


async def run(rate: float, seconds: float, count: int, connectors: int, seed: int
              ) -> list[float]:
    models = sites(count, connectors)
    lags = Lags()
    allocation = LoadAllocation(MemoryLoadStore(*models), Accepting(),
                                settings=Settings(), on_allocation=lags.done)
    for model in models:  # every station online, nobody charging yet
        for connector in model.connectors:
            allocation.observe(StationSeen(connector.station_id, True, "c", "1.6"))
    stop = asyncio.Event()
    task = asyncio.create_task(allocation.run(stop))
    await asyncio.sleep(1.0)  # the first full round
    lags.lags.clear()
    rng = random.Random(seed)
    charging: dict[str, bool] = {}
    started, sent = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        due = int((time.perf_counter() - started) * rate)
        for _ in range(due - sent):
            model = rng.choice(models)
            connector = rng.choice(model.connectors)
            now = not charging.get(connector.station_id, False)
            charging[connector.station_id] = now
            lags.dirty(model.site_id)
            allocation.observe(ChargeChanged(connector.station_id, 1, now,
                                             f"{connector.station_id}-{sent}" if now else None))
            sent += 1
        await asyncio.sleep(0.005)
    await asyncio.sleep(2.0)  # the last rounds
    stop.set()
    task.cancel()
    return lags.lags


def summary(lags: list[float]) -> str:
    ordered = sorted(lags)
    if not ordered:
        return "no allocation"

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (f"{len(ordered)} recomputations, lag p50 {at(.5):.1f} ms, p99 {at(.99):.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--connectors", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for line in machine_lines(sys.argv):
        print(line)
    for rate in (args.rate / 10, args.rate):
        lags = asyncio.run(run(rate, args.seconds, args.sites, args.connectors, args.seed))
        print(f"{rate:g} starts/stops per second: {summary(lags)}")
        if rate == args.rate:
            p99 = sorted(lags)[min(len(lags) - 1, int(.99 * len(lags)))] if lags else 9e9
            print(f"target lag p99 ≤ 1 s at {rate:g}/s: {p99:.3f} s → "
                  f"{'PASS' if p99 <= 1 else 'FAIL'}")


if __name__ == "__main__":
    main()
