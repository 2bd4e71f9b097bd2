"""Allocation lag through the full path: a simulated station starts a charge over its websocket
(1.6 StartTransaction or 2.0.1 TransactionEvent Started) → gateway → broker → save-server's
load queue → allocation → SetChargingProfile through the command path → gateway → the same
station receives the TxProfile for that transaction. The lag of a start is from just before
its call to the moment the station gets that profile. A start whose allocation equals the
station's accepted failsafe needs no TxProfile; a start whose charge ends before its profile came
is counted apart; one still charging and without its profile 5 s after the stream is counted
as missing, and enters the percentiles at the time it waited (a lower bound: its real lag is
longer).

Before the first rate the platform must have settled from connecting every station (each one
holding its failsafe, base cap and leased cap, then no call arriving for 3 s): the time
that takes is reported. Each rate reports what the load generator itself cost (its CPU and its
event loop's lateness) and the platform's CPU, so a saturated client is visible rather than
counted as lag.

S sites of N stations each (1.6 and 2.0.1 mixed, 16 A three-phase, 63 A supply), each car with
a card of its own that its first start enrols; random starts and stops at R per second over all
stations. Same-run baseline: the same stream at R / 10. The platform is started as `make run`
(embedded) or as separate services (`--mode services`, the real RabbitMQ and PostgreSQL), with
`LOAD_PROFILE_MIN_INTERVAL_SECONDS=1` so that the per connector rate limit of increases (a
deliberate delay, 30 s by default) does not count as lag. It reuses the e2e platform launcher
and simulated stations (`tests/e2e`).

    flock /tmp/csms-bench.lock .venv/bin/python -m bench.load.path --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common.machine import load_line, machine_lines
from tests.e2e.command_charger import CallErrorReply
from tests.e2e.load_sim import Config, SimStation, Site
from tests.e2e.platform import Platform, base_env, embedded_platform, services_platform

NO_PROFILE_WAIT_S = 5.0  # after this, a start without its profile is counted as missing
QUIET_S = 3.0  # settled: no call arrived at any station for this long
SETTLE_MAX_S = 900.0
GIVE_UP_QUIET_S = 30.0  # settled too when nothing arrives any more, with stations left out


class TimedStation(SimStation):
    """Records when the TxProfile of each of its transactions arrives, and counts every call
    the platform makes (profiles, local lists)."""

    pending: dict[tuple[str, str], float]
    arrived: dict[tuple[str, str], float]
    calls: int = 0

    def respond(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | CallErrorReply:
        self.calls += 1
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


@dataclass
class Phase:
    lags: list[float] = field(default_factory=list)
    missing: list[float] = field(default_factory=list)  # waited this long without a profile
    ended_first: int = 0  # the charge ended before its profile came
    refused: int = 0  # starts and stops the platform answered with an error (or not at all)
    loop_late: list[float] = field(default_factory=list)  # the client's event loop lateness
    sent: int = 0  # starts and stops sent
    profiles: dict[str, int] = field(default_factory=dict)  # every profile received, by purpose


async def watch_loop(late: list[float], stop: asyncio.Event) -> None:
    """How late the load generator's own event loop wakes (a saturated client shows here)."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.05)
        late.append(time.perf_counter() - before - 0.05)


async def stream(stations: list[TimedStation], rate: float, seconds: float, seed: int
                 ) -> Phase:
    pending: dict[tuple[str, str], float] = {}
    arrived: dict[tuple[str, str], float] = {}
    stopped: set[tuple[str, str]] = set()
    for station in stations:
        station.pending, station.arrived = pending, arrived
    phase, watching = Phase(), asyncio.Event()
    watcher = asyncio.create_task(watch_loop(phase.loop_late, watching))
    rng, tasks, sent = random.Random(seed), set(), 0
    received = [len(s.profiles) for s in stations]

    def count_failure(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            phase.refused += 1

    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        due = int((time.perf_counter() - began) * rate)
        for _ in range(due - sent):
            station = rng.choice(stations)
            if station.transaction is None:
                call = start(station)
            else:
                stopped.add((station.station_id, station.transaction))
                call = station.leave()
            task = asyncio.create_task(call)
            tasks.add(task)
            task.add_done_callback(count_failure)
        sent = max(sent, due)
        await asyncio.sleep(0.005)
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(NO_PROFILE_WAIT_S)
    watching.set()
    await watcher
    end = time.perf_counter()
    phase.sent = sent
    for station, before in zip(stations, received, strict=True):
        for purpose, _, _ in station.profiles[before:]:
            phase.profiles[purpose] = phase.profiles.get(purpose, 0) + 1
    for key, at in pending.items():
        if key in arrived:
            phase.lags.append(arrived[key] - at)
        elif key in stopped:
            phase.ended_first += 1
        else:
            phase.missing.append(end - at)
    await asyncio.gather(*(s.leave() for s in stations if s.transaction is not None),
                         return_exceptions=True)
    return phase


async def connect(station: TimedStation) -> None:
    """As a charger does: a handshake that timed out is tried again."""
    for attempt in range(5):
        try:
            await station.connect()
            return
        except TimeoutError:
            if attempt == 4:
                raise
            await asyncio.sleep(1.0)


def holds_defaults(station: TimedStation) -> bool:
    """Its failsafe, its base cap (stack level 0) and its leased cap (stack level 1)."""
    return station.default_a is not None and {0, 1} <= set(station.caps)


async def settle(stations: list[TimedStation]) -> float:
    """Seconds until every station holds its failsafe, base cap and leased cap and no call
    (a profile, a local-list check) has arrived anywhere for QUIET_S (the platform is done
    with the connections)."""
    began = time.perf_counter()
    seen, quiet_since = -1, time.perf_counter()
    while time.perf_counter() - began < SETTLE_MAX_S:
        await asyncio.sleep(0.5)
        count = sum(s.calls for s in stations)
        if count != seen:
            seen, quiet_since = count, time.perf_counter()
        ready = all(map(holds_defaults, stations))
        quiet = time.perf_counter() - quiet_since
        if quiet >= QUIET_S and (ready or quiet >= GIVE_UP_QUIET_S):
            break
    return time.perf_counter() - began


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and all their descendants (also those already
    ended and reaped: a PostgreSQL backend per connection), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, list(pids)
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def server_pids() -> dict[str, list[int]]:
    """The machine's RabbitMQ and PostgreSQL (services mode uses them; they share the cores)."""
    found: dict[str, list[int]] = {"RabbitMQ": [], "PostgreSQL": []}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split("(", 1)[1].rsplit(")", 1)
        except (OSError, IndexError, ValueError):
            continue
        parent = int(rest.split()[1])
        if name == "beam.smp":
            found["RabbitMQ"].append(int(stat.parent.name))
        elif name == "postgres" and parent == 1:  # the postmaster (its backends below it)
            found["PostgreSQL"].append(int(stat.parent.name))
    return {k: v for k, v in found.items() if v}


async def bench(platform: Platform, args: argparse.Namespace) -> None:
    stations: list[TimedStation] = []
    creating = asyncio.Semaphore(8)  # sites created 8 at a time (setup, not measured)

    async def create(number: int) -> list[TimedStation]:
        versions = ["1.6" if i % 2 == 0 else "2.0.1" for i in range(args.stations)]
        group = [TimedStation(platform.gateway_url, f"LAG-{uuid.uuid4().hex[:6]}-{number}-{i}",
                              versions[i]) for i in range(args.stations)]
        site = Site(platform.save_server_url, platform.headers,
                    Config(limit_a=63.0, building_metered=False))
        async with creating:
            await asyncio.to_thread(site.create, [g.station_id for g in group], versions)
        return group

    for group in await asyncio.gather(*(create(n) for n in range(args.sites))):
        stations += group
    began = time.perf_counter()
    for chunk in range(0, len(stations), 50):
        await asyncio.gather(*(connect(s) for s in stations[chunk:chunk + 50]))
    connected = time.perf_counter() - began
    settled = await settle(stations)
    unsettled = sum(1 for s in stations if not holds_defaults(s))
    print(f"{len(stations)} stations connected in {connected:.1f} s; settled (failsafe, "
          f"base and leased cap each, then {QUIET_S:g} s without a call) {settled:.1f} s later"
          + (f"; {unsettled} stations still without them" if unsettled else ""))
    platform_pids = [process.pid for _, process, _ in platform.processes]
    servers = server_pids() if platform.mode == "services" else {}
    for rate in (args.rate / 10, args.rate):
        cpu_client, cpu_platform = time.process_time(), cpu_seconds(platform_pids)
        cpu_servers = {name: cpu_seconds(pids) for name, pids in servers.items()}
        wall = time.perf_counter()
        phase = await stream(stations, rate, args.seconds, args.seed)
        wall = time.perf_counter() - wall
        cpu_client = (time.process_time() - cpu_client) / wall
        cpu_platform = (cpu_seconds(platform_pids) - cpu_platform) / wall
        for name, pids in servers.items():
            cpu_servers[name] = (cpu_seconds(pids) - cpu_servers[name]) / wall
        print(f"{rate:g} starts/stops per second: {summary(phase.lags)}; missing (no profile "
              f"{NO_PROFILE_WAIT_S:g} s after the stream): {len(phase.missing)}; ended before "
              f"their profile: {phase.ended_first}; starts/stops refused by the platform: "
              f"{phase.refused}")
        per = sum(phase.profiles.values()) / max(phase.sent, 1)
        print(f"  profiles received: {per:.2f} per start/stop ("
              + ", ".join(f"{k} {v}" for k, v in sorted(phase.profiles.items())) + ")")
        print(f"  load generator: {cpu_client:.2f} CPU, its event loop late p99 "
              f"{percentile(phase.loop_late, .99) * 1000:.0f} ms, max "
              f"{max(phase.loop_late, default=0) * 1000:.0f} ms; platform: {cpu_platform:.2f} "
              f"CPU" + "".join(f"; {name}: {cpu:.2f} CPU" for name, cpu in cpu_servers.items())
              + f"; {load_line('after')}")
        if rate == args.rate:
            p99 = percentile(phase.lags + phase.missing, .99)
            print(f"target lag p99 ≤ 1 s at {rate:g}/s (missing ones at their wait): "
                  f"{p99:.3f} s → {'PASS' if p99 <= 1 else 'FAIL'}")
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
    with tempfile.TemporaryDirectory() as tmp, launch(args.mode, Path(tmp)) as platform:
        asyncio.run(bench(platform, args))


def launch(mode: str, tmp: Path) -> contextlib.AbstractContextManager[Platform]:
    """The e2e launchers, at LOG_LEVEL WARNING unless set (theirs is INFO: ~100,000 "command
    sent/done" lines a run, ~6 % of the gateway's CPU)."""
    quiet = {"LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")}
    if mode == "embedded":
        return embedded_platform(tmp, base_env(tmp) | quiet)
    return services_platform(tmp, quiet)


if __name__ == "__main__":
    main()
