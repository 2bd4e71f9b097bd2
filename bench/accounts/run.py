"""Authentication's cost, in one run:

1. `GET /charges` for one station and one week, through two API processes on the same
   database — auth on (an API key) and auth off (the permission dependencies overridden) —
   requests interleaved one by one so both see the same machine; p50/p99 and the difference.
2. The password hash: argon2id with the shipped parameters, hash and verify, per call.

    .venv/bin/python bench/accounts/run.py [--requests 3000] [--charges-per-day 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.domain.access import Principal, Role
from save_server.infrastructure.accounts.passwords import Argon2PasswordHasher
from save_server.infrastructure.db.engine import migrate

ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
WEEK_END = datetime(2026, 11, 1, tzinfo=UTC)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def create_database() -> str:
    name = f"bench_auth_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_DSN, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    admin = create_engine(ADMIN_DSN, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def seed(url: str, stations: int, per_day: int, days: int) -> None:
    """`stations` stations with `per_day` finished charges a day for `days` days."""
    engine = create_engine(url)
    start = WEEK_END - timedelta(days=days)
    with engine.begin() as db:
        db.execute(text("""
            INSERT INTO charges (station_id, transaction_id, id_tag, connector_id, status,
                                 started_at, ended_at, sort_at, meter_start_wh, meter_stop_wh,
                                 energy_wh, duration_seconds, stop_reason, stopped)
            SELECT 'BENCH-' || s, s || '-' || n, 'TAG-' || (n % 50), 1, 'finished',
                   :start + make_interval(mins => n * (1440 / :per_day)),
                   :start + make_interval(mins => n * (1440 / :per_day) + 45),
                   :start + make_interval(mins => n * (1440 / :per_day)),
                   n * 1000, n * 1000 + 7000, 7000, 2700, 'Local', true
            FROM generate_series(1, :stations) s, generate_series(0, :total - 1) n"""),
            {"start": start, "per_day": per_day, "stations": stations, "total": per_day * days})
    engine.dispose()


def api_key(url: str) -> str:
    container = bootstrap(Settings(database_url=url, data_dir=Path("/tmp/bench-auth")))
    service = container.access_control().accounts
    account = service.create_account(f"bench-{uuid.uuid4().hex[:6]}@localhost", "Bench",
                                     Role.OPERATOR, None)
    setup = Principal(account.account_id, account.email, Role.ADMIN, None, "bench")
    key = service.create_api_key(setup, account.account_id, "bench", Role.OPERATOR, None).secret
    container.close()
    return key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(url: str, port: int, mode: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": "/tmp/bench-auth"}
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("serve.py")),
                                str(port), mode], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"API ({mode}) did not start")


def measure(requests: int, key: str, ports: dict[str, int]) -> dict[str, list[float]]:
    params = {"charging_station_id": "BENCH-1",
              "start_date": (WEEK_END - timedelta(days=7)).isoformat(),
              "end_date": WEEK_END.isoformat(), "limit": 1000}
    clients = {"on": httpx.Client(base_url=f"http://127.0.0.1:{ports['on']}",
                                  headers={"Authorization": f"Bearer {key}"}),
               "off": httpx.Client(base_url=f"http://127.0.0.1:{ports['off']}")}
    timings: dict[str, list[float]] = {"on": [], "off": []}
    expected = None
    for i in range(requests + 100):
        for mode in (("on", "off") if i % 2 else ("off", "on")):
            started = time.perf_counter()
            response = clients[mode].get("/charges", params=params)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.text
            expected = expected or len(response.json())
            assert len(response.json()) == expected
            if i >= 100:  # warm-up excluded
                timings[mode].append(elapsed)
    return timings


def password_hash_ms(rounds: int) -> dict[str, float]:
    hasher = Argon2PasswordHasher()
    hashes, verifies = [], []
    stored = hasher.hash("a password of twenty chars")
    for _ in range(rounds):
        started = time.perf_counter()
        hasher.hash("a password of twenty chars")
        hashes.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        assert hasher.verify(stored, "a password of twenty chars")
        verifies.append((time.perf_counter() - started) * 1000)
    return {"hash_median_ms": statistics.median(hashes), "hash_min_ms": min(hashes),
            "verify_median_ms": statistics.median(verifies), "verify_min_ms": min(verifies)}


def compare(timings: dict[str, list[float]], measured: str, baseline: str) -> dict:
    """p50/p99 of each series and what `measured` adds to `baseline`, with the machine."""
    result: dict = {mode: {"p50_ms": round(percentile(t, 0.5), 3),
                           "p99_ms": round(percentile(t, 0.99), 3), "requests": len(t)}
                    for mode, t in timings.items()}
    for quantile in ("p50", "p99"):
        result[f"{quantile}_added_ms"] = round(
            result[measured][f"{quantile}_ms"] - result[baseline][f"{quantile}_ms"], 3)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "processor": platform.processor() or platform.machine()}
    result["command"] = " ".join(sys.argv)
    return result


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--charges-per-day", type=int, default=20)
    parser.add_argument("--hash-rounds", type=int, default=20)
    args = parser.parse_args()
    url = create_database()
    processes = []
    try:
        migrate(url)
        seed(url, args.stations, args.charges_per_day, 30)
        key = api_key(url)
        ports = {"on": free_port(), "off": free_port()}
        processes = [serve(url, ports[mode], mode) for mode in ports]
        timings = measure(args.requests, key, ports)
    finally:
        stop(processes)
        drop_database(url)
    result = compare(timings, "on", "off")
    result["password"] = {k: round(v, 1) for k, v in password_hash_ms(args.hash_rounds).items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
