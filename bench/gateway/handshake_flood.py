"""Bad-password flood from one address while registered stations keep calling.

    .venv/bin/python bench/gateway/handshake_flood.py                  # 1,000 bad handshakes/s
    .venv/bin/python bench/gateway/handshake_flood.py --stations 50 --phase 5 --rounds 1

One gateway (`python -m ocpp_events serve`, plain ws, default failed-handshake limits) whose
registry file lists N security-profile-1 stations. The stations connect with their passwords
from 127.0.0.1 and send Heartbeat every --interval seconds. Phases alternate, same run: quiet,
then a flood — a separate process sending --flood-rate upgrade requests per second with wrong
Basic passwords for those station ids, from 127.0.0.9 — and so on for --rounds. Reports the
stations' Heartbeat round trip p50/p99 per phase, how the flood was answered (401 until the
address is blocked, then 429) and the gateway's CPU per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import pathlib
import random
import secrets
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import connect

from bench.gateway import targets
from bench.gateway.handshake_storm import AMQP_URL, cpu_seconds, registry_file
from bench.gateway.loadgen import latency_figures, raise_open_files_limit

HERE = pathlib.Path(__file__).resolve().parent


async def flood(host: str, port: int, station_ids: list[str], rate: float, seconds: float,
                source: str) -> dict[str, Any]:
    """Raw HTTP upgrade requests with a wrong password; only the status line is read."""
    statuses: Counter[str] = Counter()
    in_flight = asyncio.Semaphore(256)

    async def attempt(station_id: str) -> None:
        async with in_flight:
            token = base64.b64encode(f"{station_id}:{secrets.token_hex(16)}".encode()).decode()
            key = base64.b64encode(secrets.token_bytes(16)).decode()
            try:
                reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
                writer.write((f"GET /ocpp/{station_id} HTTP/1.1\r\nHost: {host}\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              f"Sec-WebSocket-Key: {key}\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
                              f"Authorization: Basic {token}\r\n\r\n").encode())
                status = (await asyncio.wait_for(reader.readline(), 10)).split(b" ")
                statuses[status[1].decode() if len(status) > 1 else "no answer"] += 1
                writer.close()
            except (OSError, TimeoutError) as error:
                statuses[type(error).__name__] += 1

    started = time.monotonic()
    tasks, sent = [], 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate) - sent
        for _ in range(due):
            tasks.append(asyncio.create_task(attempt(random.choice(station_ids))))
        sent += max(due, 0)
        await asyncio.sleep(0.005)
    await asyncio.gather(*tasks)
    return {"sent": sent, "achieved_rate": round(sent / seconds, 1), "statuses": dict(statuses)}


async def station(base_url: str, station_id: str, password: str, interval: float,
                  samples: list[tuple[float, float]], stop: asyncio.Event,
                  failures: list[str]) -> None:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    try:
        async with connect(base_url + station_id, subprotocols=["ocpp1.6"], compression=None,
                           additional_headers={"Authorization": f"Basic {token}"},
                           ping_interval=None) as ws:
            await asyncio.sleep(random.random() * interval)
            while not stop.is_set():
                sent = time.monotonic()
                await ws.send(json.dumps([2, secrets.token_hex(4), "Heartbeat", {}]))
                await asyncio.wait_for(ws.recv(), 10)
                samples.append((sent, (time.monotonic() - sent) * 1000))
                await asyncio.sleep(interval)
    except Exception as error:  # counted: a good station must never fail
        failures.append(repr(error)[:200])


async def measure(args: argparse.Namespace, gateway: targets.RunningTarget,
                  passwords: dict[str, str], log_dir: pathlib.Path) -> list[dict[str, Any]]:
    base_url = f"ws://127.0.0.1:{gateway.port}/ocpp/"
    samples: list[tuple[float, float]] = []
    failures: list[str] = []
    stop = asyncio.Event()
    tasks = [asyncio.create_task(station(base_url, s, p, args.interval, samples, stop, failures))
             for s, p in passwords.items()]
    await asyncio.sleep(max(3.0, args.interval * 2))  # everyone connected and calling
    phases = []
    for round_no in range(1, args.rounds + 1):
        for kind in ("quiet", "flood"):
            cpu_before, started = cpu_seconds(gateway.pid), time.monotonic()
            flood_result = None
            if kind == "flood":
                flood_result = await flooder(args, gateway.port, list(passwords), log_dir)
            else:
                await asyncio.sleep(args.phase)
            ended = time.monotonic()
            rtts = [rtt for sent, rtt in samples if started <= sent < ended]
            phases.append({"round": round_no, "phase": kind, "calls": len(rtts),
                           "rtt_ms": latency_figures(rtts), "flood": flood_result,
                           "gateway_cpu_share": round((cpu_seconds(gateway.pid) - cpu_before)
                                                      / (ended - started), 3)})
            print(json.dumps(phases[-1]), flush=True)
    stop.set()
    await asyncio.gather(*tasks)
    phases.append({"station_failures": failures})
    return phases


async def flooder(args: argparse.Namespace, port: int, station_ids: list[str],
                  log_dir: pathlib.Path) -> dict[str, Any]:
    """The flood runs in its own process, so it does not share the stations' event loop."""
    ids = log_dir / "station-ids.json"
    ids.write_text(json.dumps(station_ids))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.gateway.handshake_flood", "--flooder", "--port", str(port),
        "--flood-rate", str(args.flood_rate), "--phase", str(args.phase), "--ids", str(ids),
        stdout=subprocess.PIPE)
    out, _ = await process.communicate()
    return json.loads(out)


def report(phases: list[dict[str, Any]]) -> str:
    lines = ["| round | phase | Heartbeat calls | RTT p50 / p99 / max ms | flood sent/s | "
             "flood answers | gateway CPU |", "|---|---|---|---|---|---|---|"]
    for p in phases:
        if "phase" not in p:
            continue
        rtt, fl = p["rtt_ms"], p["flood"] or {}
        lines.append(f"| {p['round']} | {p['phase']} | {p['calls']} | {rtt['p50']:.1f} / "
                     f"{rtt['p99']:.1f} / {rtt['max']:.1f} | {fl.get('achieved_rate', '-')} | "
                     f"{fl.get('statuses', '-')} | {p['gateway_cpu_share']:.0%} |")
    failures = phases[-1].get("station_failures")
    lines.append(f"\nfailed stations: {len(failures)} {failures[:3] if failures else ''}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between calls")
    parser.add_argument("--phase", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--flood-rate", type=float, default=1000.0)
    parser.add_argument("--out", type=pathlib.Path)
    parser.add_argument("--flooder", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ids", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flooder:
        ids = json.loads(args.ids.read_text())
        print(json.dumps(asyncio.run(flood("127.0.0.1", args.port, ids, args.flood_rate,
                                           args.phase, "127.0.0.9"))))
        return 0
    out = args.out or (HERE.parent / "results"
                       / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-handshake-flood")
    out.mkdir(parents=True, exist_ok=True)
    raise_open_files_limit(4 * args.stations + 4096)
    passwords = {f"FLOOD-{secrets.token_hex(3)}-{i:04d}": secrets.token_hex(16)
                 for i in range(args.stations)}
    registry = out / "registry.json"
    registry_file(registry, list(passwords), 1, passwords)
    env = {"GATEWAY_UNKNOWN_STATIONS": "reject", "GATEWAY_REGISTRY_FILE": str(registry)}
    with targets.bench_exchange(AMQP_URL) as (exchange, _queue, _audits), \
            targets.gateway(out, AMQP_URL, exchange, "WARNING", env) as gateway:
        phases = asyncio.run(measure(args, gateway, passwords, out))
    table = report(phases)
    (out / "report.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps({"command": sys.argv, "phases": phases},
                                                 indent=2))
    print(table)
    print(f"results in {out}")
    return 0 if not phases[-1]["station_failures"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
