"""Remote-commands benchmark (issue 6): API → RabbitMQ → gateway → charger → back, with N
stations connected, against two baselines measured in the same run.

- `api`: `POST /charging-stations/{id}/commands/clear-cache` on `python -m save_server api`
  (PostgreSQL, RabbitMQ), the gateway `python -m ocpp_events serve`, simulated stations in a
  process of their own (`chargers.py`) answering at once; a random station per request.
- `bus` (diagnostic): save-server's RabbitMQ command bus called from this process — broker,
  gateway and station without HTTP, FastAPI and the database.
- `direct` baseline: this process sends the same OCPP call straight over a websocket to the
  same simulated stations (a bare `websockets` server, no HTTP, no broker, no gateway).
- `http` baseline: `GET /health` on the same API (the HTTP client + server floor).

Latency = request sent → answer received, `time.perf_counter()`, nearest-rank percentiles.
Writes `bench/results/<UTC time>-commands/{results.json,report.md}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.common import credentials

ROOT = Path(__file__).resolve().parents[2]
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PG_ADMIN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_P99_MS = 50.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, int(-(-p * len(ordered) // 100)) - 1))]

    return {"n": len(ordered), "p50_ms": rank(50), "p90_ms": rank(90), "p99_ms": rank(99),
            "max_ms": ordered[-1], "mean_ms": sum(ordered) / len(ordered)}


class DirectServer:
    """The `direct` baseline: a bare websocket server holding one connection per station."""

    def __init__(self) -> None:
        self.connections: dict[str, Any] = {}
        self.pending: dict[str, asyncio.Future[list]] = {}
        self.port = free_port()
        self._ids = itertools.count()

    async def handle(self, ws: Any) -> None:
        self.connections[ws.request.path.strip("/")] = ws
        async for raw in ws:
            frame = json.loads(raw)
            future = self.pending.pop(frame[1], None)
            if future is not None:
                future.set_result(frame)

    async def call(self, station_id: str) -> list:
        message_id = f"d{next(self._ids)}"
        future: asyncio.Future[list] = asyncio.get_running_loop().create_future()
        self.pending[message_id] = future
        await self.connections[station_id].send(json.dumps([2, message_id, "ClearCache", {}]))
        return await asyncio.wait_for(future, 10)


async def measure(label: str, requests: int, concurrency: int, one: Any,
                  stations: list[str]) -> dict[str, Any]:
    samples: list[float] = []
    failures: list[str] = []
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            station_id = random.choice(stations)
            started = time.perf_counter()
            try:
                await one(station_id)
                samples.append((time.perf_counter() - started) * 1000)
            except Exception as error:  # reported, not hidden
                failures.append(repr(error))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    result = {"label": label, "concurrency": concurrency, "requests": requests,
              "failures": len(failures), "first_failure": failures[0] if failures else None,
              "per_second": round(len(samples) / elapsed, 1), **percentiles(samples)}
    print(f"{label:>8} c={concurrency:<3} n={len(samples):<6} p50={result['p50_ms']:.2f} "
          f"p99={result['p99_ms']:.2f} max={result['max_ms']:.2f} ms  "
          f"{result['per_second']}/s failures={len(failures)}", flush=True)
    return result


def admin_sql(statement: str) -> None:
    import psycopg2

    connection = psycopg2.connect(PG_ADMIN)
    connection.autocommit = True
    with contextlib.closing(connection), connection.cursor() as cursor:
        cursor.execute(statement)


def broker(action: str, names: dict[str, str]) -> None:
    """Declare the event exchange and a bounded sink for command events, or delete all."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    if action == "declare":
        channel.exchange_declare(names["events"], "topic", durable=True)
        channel.queue_declare(names["sink"], arguments={"x-max-length": 10_000,
                                                        "x-expires": 3_600_000})
        channel.queue_bind(names["sink"], names["events"], "ocpp-commands.#")
    else:
        for queue in (names["sink"], names["save"], f"{names['save']}.dead-letter"):
            channel.queue_delete(queue)
        for exchange in (names["events"], f"{names['events']}.dead-letter", names["commands"],
                         f"{names['events']}.registry"):  # the gateway's station registry feed
            channel.exchange_delete(exchange)
    connection.close()


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, stdin=subprocess.PIPE)


async def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {timeout} s")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-commands"
    out.mkdir(parents=True, exist_ok=True)
    names = {"events": f"bench-cmd-events-{suffix}", "commands": f"bench-cmd-{suffix}",
             "save": f"bench-cmd-save-{suffix}", "sink": f"bench-cmd-sink-{suffix}"}
    database = f"bench_cmd_{suffix}"
    ports = {k: str(free_port()) for k in ("GATEWAY_PORT", "GATEWAY_HTTP_PORT",
                                           "SAVE_SERVER_PORT")}
    env = {**os.environ, **ports, "AMQP_URL": AMQP_URL, "AMQP_EXCHANGE": names["events"],
           "AMQP_COMMAND_EXCHANGE": names["commands"], "SAVE_SERVER_QUEUE": names["save"],
           "DATABASE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
           "GATEWAY_HOST": "127.0.0.1", "SAVE_SERVER_HOST": "127.0.0.1",
           "LOG_LEVEL": args.log_level, "PYTHONUNBUFFERED": "1",
           "GATEWAY_UNKNOWN_STATIONS": "auto-register",  # the simulated stations are unregistered
           "GATEWAY_UNKNOWN_ID_TAGS": "accept",  # and so are their id tags
           **credentials.api_env()}
    admin_sql(f'CREATE DATABASE "{database}"')
    broker("declare", names)
    processes: list[subprocess.Popen] = []
    direct = DirectServer()
    prefix = f"BENCH-{suffix}"
    try:
        subprocess.run([sys.executable, "-m", "save_server", "migrate"], env=env, check=True,
                       capture_output=True)
        for role, argv in (("worker", ["-m", "save_server", "worker"]),
                           ("api", ["-m", "save_server", "api"]),
                           ("gateway", ["-m", "ocpp_events", "serve"])):
            processes.append(spawn(argv, env, out / f"{role}.log"))
        await wait_http(f"http://127.0.0.1:{ports['SAVE_SERVER_PORT']}/health")
        await wait_http(f"http://127.0.0.1:{ports['GATEWAY_HTTP_PORT']}/ready")
        server = await websockets.serve(direct.handle, "127.0.0.1", direct.port,
                                        subprotocols=["ocpp1.6"], compression=None,
                                        ping_interval=None)
        connect_started = time.perf_counter()
        chargers = subprocess.Popen(
            [sys.executable, "-m", "bench.commands.chargers",
             "--gateway", f"ws://127.0.0.1:{ports['GATEWAY_PORT']}",
             "--baseline", f"ws://127.0.0.1:{direct.port}", "--stations", str(args.stations),
             "--prefix", prefix], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=ROOT)
        processes.append(chargers)
        line = await asyncio.to_thread(chargers.stdout.readline)  # type: ignore[union-attr]
        if not line.startswith("READY"):
            raise RuntimeError(f"chargers did not get ready: {line!r}")
        connect_seconds = time.perf_counter() - connect_started
        stations = [f"{prefix}-{i:05d}" for i in range(args.stations)]
        api = f"http://127.0.0.1:{ports['SAVE_SERVER_PORT']}"
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=30, limits=limits,
                                     headers=credentials.HEADERS) as client:

            async def command(station_id: str) -> None:
                response = await client.post(
                    f"{api}/charging-stations/{station_id}/commands/clear-cache")
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code} {response.text[:200]}")

            async def health(_: str) -> None:
                (await client.get(f"{api}/health")).raise_for_status()

            from save_server.domain.station_commands import CommandOutcome, CommandRequest
            from save_server.infrastructure.commands.rabbitmq import RabbitCommandBus

            bus = RabbitCommandBus(AMQP_URL, names["commands"])

            async def bus_call(station_id: str) -> None:
                answer = await bus.send(CommandRequest(str(uuid.uuid4()), station_id,
                                                       "clear-cache", {}, 10.0, "bench"))
                if answer.outcome is not CommandOutcome.ACCEPTED:
                    raise RuntimeError(f"{answer.outcome}: {answer.error_description}")

            # every station known to save-server and routable: one command each (warm-up)
            deadline = time.monotonic() + 120
            remaining = list(stations)
            while remaining and time.monotonic() < deadline:
                results = await asyncio.gather(*(command(s) for s in remaining[:50]),
                                               return_exceptions=True)
                done = [s for s, r in zip(remaining[:50], results, strict=True) if r is None]
                remaining = [s for s in remaining if s not in done]
                if len(done) < 50 and remaining:
                    await asyncio.sleep(0.5)
            if remaining:
                raise RuntimeError(f"{len(remaining)} stations never became routable")
            warmup_seconds = time.perf_counter() - connect_started - connect_seconds
            results = []
            for concurrency in args.concurrency:
                for label, one in (("api", command), ("bus", bus_call),
                                   ("direct", direct.call), ("http", health)):
                    results.append(await measure(label, args.requests, concurrency, one,
                                                 stations))
            await bus.close()
        server.close()
        return {"stations": args.stations, "requests_per_series": args.requests,
                "connect_and_boot_seconds": round(connect_seconds, 2),
                "all_routable_seconds": round(warmup_seconds, 2), "results": results,
                "target_p99_ms": TARGET_P99_MS, "out": str(out),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()},
                "date": datetime.now(UTC).isoformat()}
    finally:
        for process in reversed(processes):
            if process.stdin:
                with contextlib.suppress(Exception):
                    process.stdin.close()
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        broker("delete", names)
        admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def report(summary: dict[str, Any]) -> str:
    lines = [f"# Remote commands benchmark ({summary['date']})", "",
             f"{summary['stations']} stations connected and booted in "
             f"{summary['connect_and_boot_seconds']} s; all routable after "
             f"{summary['all_routable_seconds']} s more; {summary['requests_per_series']} "
             "requests per series; machine: "
             f"{summary['machine']['cpus']} CPUs, Python {summary['machine']['python']}.", "",
             "| series | concurrency | p50 ms | p90 ms | p99 ms | max ms | req/s | failures |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["results"]:
        lines.append(f"| {r['label']} | {r['concurrency']} | {r['p50_ms']:.2f} | "
                     f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} | "
                     f"{r['per_second']} | {r['failures']} |")
    verdicts = [f"- api c={r['concurrency']}: p99 {r['p99_ms']:.2f} ms → "
                f"{'PASS' if r['p99_ms'] <= TARGET_P99_MS and not r['failures'] else 'MISS'} "
                f"(target ≤ {TARGET_P99_MS:g} ms)"
                for r in summary["results"] if r["label"] == "api"]
    return "\n".join([*lines, "", *verdicts, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    summary = asyncio.run(run(args))
    out = Path(summary["out"])
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    text = report(summary)
    (out / "report.md").write_text(text)
    print(text)
    misses = [r for r in summary["results"] if r["label"] == "api"
              and (r["p99_ms"] > TARGET_P99_MS or r["failures"])]
    raise SystemExit(1 if misses else 0)


if __name__ == "__main__":
    main()
