"""API scenarios against `python -m save_server api` (a subprocess) and their raw-SQL baselines
(psycopg2, the same query shape, one connection, sequential)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx

from bench.common import credentials
from bench.common.http_load import Plan, run_plans
from bench.common.machine import RssSampler, latency_summary, proc_status_kib
from bench.save_server.database import HISTORY_DAYS, HISTORY_END, HISTORY_START, BenchDatabase


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def api_process(db: BenchDatabase, log_path: str) -> Iterator[tuple[str, int]]:
    """Yields (base URL, pid); SIGTERM at the end."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db.sqlalchemy_url, "SAVE_SERVER_HOST": "127.0.0.1",
           "SAVE_SERVER_PORT": str(port), "LOG_LEVEL": "WARNING", **credentials.api_env()}
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "save_server", "api"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"save_server api exited with {process.returncode}")
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("save_server api not ready after 30 s")
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def iso(moment: datetime) -> str:
    return moment.isoformat()


def station_week_plans(stations: int, count: int, rng: random.Random) -> list[Plan]:
    plans = []
    for _ in range(count):
        station = f"CP-{rng.randrange(stations):05d}"
        start = HISTORY_START + timedelta(days=rng.randrange(HISTORY_DAYS - 7))
        plans.append(Plan("/charges", {"charging_station_id": station,
                                       "start_date": iso(start),
                                       "end_date": iso(start + timedelta(days=7))}))
    return plans


def random_charges(db: BenchDatabase, count: int, seed: int) -> list[tuple[datetime, int]]:
    """(sort_at, id) of charges spread over the whole history (TABLESAMPLE, repeatable)."""
    conn = db.connect()
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT sort_at, id FROM charges TABLESAMPLE SYSTEM (1) REPEATABLE (%s)"
                       " ORDER BY random() LIMIT %s", (seed, count))
        rows = [(r[0], int(r[1])) for r in cursor.fetchall()]
    conn.close()
    return rows


def deep_page_plans(entry_points: list[tuple[datetime, int]], follow: int) -> list[Plan]:
    """Enter the history at a random charge with the cursor token the API itself issues for
    it (its own `encode_cursor`), then follow `Link: rel="next"` for `follow` more pages."""
    from save_server.domain.ports import ChargeCursor
    from save_server.infrastructure.api.routers.charges import encode_cursor

    return [Plan("/charges", {"limit": "100", "after": encode_cursor(ChargeCursor(at, cid))},
                 follow_pages=follow) for at, cid in entry_points]


def measure_plans(base: str, plans: list[Plan], concurrency: int,
                  budget_s: float = 120.0) -> dict[str, Any]:
    result = run_plans(base, plans, concurrency, budget_s=budget_s)
    return {**latency_summary(result.latencies), "rows": result.rows,
            "plans_skipped": result.plans_skipped,
            "pages_followed": result.pages_followed, "errors": result.errors[:5],
            "error_count": len(result.errors), "concurrency": concurrency,
            "requests_per_s": len(result.latencies) / result.wall_seconds}


def sql_baseline(db: BenchDatabase, queries: list[tuple[str, tuple[Any, ...]]],
                 budget_s: float = 60.0) -> dict[str, Any]:
    """Each query timed alone (execute + fetchall), one connection, sequential; stops
    starting new queries after `budget_s`."""
    conn = db.connect()
    latencies: list[float] = []
    rows = 0
    deadline = time.perf_counter() + budget_s
    with conn, conn.cursor() as cursor:
        for sql, params in queries:
            if time.perf_counter() > deadline:
                break
            began = time.perf_counter()
            cursor.execute(sql, params)
            rows += len(cursor.fetchall())
            latencies.append(time.perf_counter() - began)
    conn.close()
    return {**latency_summary(latencies), "rows": rows}


CHARGE_COLUMNS = ("id, station_id, transaction_id, connector_id, id_tag, meter_start_wh,"
                  " meter_stop_wh, started_at, ended_at, stopped, stop_reason, status,"
                  " energy_wh, duration_seconds, sort_at")


def station_week_sql(plans: list[Plan]) -> list[tuple[str, tuple[Any, ...]]]:
    sql = (f"SELECT {CHARGE_COLUMNS} FROM charges WHERE station_id = %s AND started_at >= %s"
           " AND ended_at <= %s ORDER BY sort_at DESC, id DESC LIMIT 101")
    return [(sql, (p.params["charging_station_id"], p.params["start_date"],
                   p.params["end_date"])) for p in plans]


def deep_page_sql(entry_points: list[tuple[datetime, int]], row_value: bool = True
                  ) -> list[tuple[str, tuple[Any, ...]]]:
    """The next page after a charge: as a row-value comparison (what an index range scan
    needs), or in the OR form the API's reader issues (`readers._filtered`)."""
    condition = ("(sort_at, id) < (%s, %s)" if row_value
                 else "(sort_at < %s OR (sort_at = %s AND id < %s))")
    sql = (f"SELECT {CHARGE_COLUMNS} FROM charges WHERE {condition}"
           " ORDER BY sort_at DESC, id DESC LIMIT 101")
    return [(sql, (at, cid) if row_value else (at, at, cid)) for at, cid in entry_points]


STATION_COLUMNS = ("station_id, status, first_connected_at, last_connected_at, last_seen_at, "
                   "vendor, model, serial_number, firmware_version, boot_info_at, name, "
                   "address, latitude, longitude, availability_status, "
                   "availability_raw_status, availability_error_code, availability_info, "
                   "availability_at")
STATIONS_SQL = [
    (f"SELECT {STATION_COLUMNS} FROM stations ORDER BY station_id", ()),
    ("SELECT * FROM connectors ORDER BY connector_id", ()),
    ("SELECT * FROM station_readings ORDER BY measurand, phase", ()),
]


def stations_list(base: str, repeats: int) -> dict[str, Any]:
    """GET /charging-stations `repeats` times, one at a time (the full list each time)."""
    latencies, sizes, count = [], [], 0
    with httpx.Client(base_url=base, timeout=60, headers=credentials.HEADERS) as client:
        for _ in range(repeats):
            began = time.perf_counter()
            response = client.get("/charging-stations")
            latencies.append(time.perf_counter() - began)  # sent → body read, not parsed
            response.raise_for_status()
            body = response.json()
            sizes.append(len(response.content))
            count = len(body)
    return {**latency_summary(latencies), "stations": count,
            "bytes": sizes[-1] if sizes else 0}


STATION_DOCUMENTS_SQL = [("SELECT document FROM stations ORDER BY station_id", ())]


def stations_sql_baseline(db: BenchDatabase, repeats: int,
                          statements: list[tuple[str, Any]] | None = None) -> dict[str, Any]:
    """The three plain reads of the station rows (default), or other `statements`, timed
    together."""
    conn = db.connect()
    latencies = []
    with conn, conn.cursor() as cursor:
        for _ in range(repeats):
            began = time.perf_counter()
            for sql, params in statements or STATIONS_SQL:
                cursor.execute(sql, params)
                cursor.fetchall()
            latencies.append(time.perf_counter() - began)
    conn.close()
    return latency_summary(latencies)


def csv_window(db: BenchDatabase, rows: int) -> tuple[datetime, datetime, int]:
    """The newest [start, end] window holding about `rows` finished charges ("last month's
    charges"; older windows are slower, see docs/performance-log.md)."""
    conn = db.connect()
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT started_at FROM charges ORDER BY started_at DESC"
                       " OFFSET %s LIMIT 1", (rows - 1,))
        found = cursor.fetchone()
        start = found[0] if found else HISTORY_START
        end = HISTORY_END + timedelta(days=1)
        cursor.execute("SELECT count(*) FROM charges WHERE started_at >= %s AND ended_at <= %s",
                       (start, end))
        count = int(cursor.fetchone()[0])
    conn.close()
    return start, end, count


def csv_export(base: str, pid: int, start: datetime, end: datetime) -> dict[str, Any]:
    """Stream /charges.csv, count lines, sample the API's RSS; VmHWM read after."""
    rss_before = proc_status_kib(pid, "VmRSS")
    lines = 0
    size = 0
    began = time.perf_counter()
    first_byte: float | None = None
    with RssSampler(pid) as sampler, httpx.stream(
            "GET", f"{base}/charges.csv", params={"start_date": iso(start), "end_date": iso(end)},
            timeout=900, headers=credentials.HEADERS) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            if first_byte is None:
                first_byte = time.perf_counter() - began
            size += len(chunk)
            lines += chunk.count(b"\r\n")
    elapsed = time.perf_counter() - began
    return {"rows": lines - 1, "bytes": size, "seconds": elapsed,
            "first_byte_ms": (first_byte or 0) * 1000, "rows_per_s": (lines - 1) / elapsed,
            "rss_before_mib": rss_before / 1024,
            "rss_sampled_peak_mib": max(sampler.samples_kib, default=0) / 1024,
            "vm_hwm_mib": proc_status_kib(pid, "VmHWM") / 1024}


def csv_sql_baseline(db: BenchDatabase, start: datetime, end: datetime) -> dict[str, Any]:
    """The same rows with a server-side cursor (psycopg2 named cursor), written as CSV to
    nothing: what the database and driver alone cost."""
    import csv
    import io

    conn = db.connect()
    began = time.perf_counter()
    rows = 0
    with conn, conn.cursor(name="bench_csv") as cursor:
        cursor.itersize = 1000
        cursor.execute(f"SELECT {CHARGE_COLUMNS} FROM charges WHERE started_at >= %s AND"
                       " ended_at <= %s ORDER BY sort_at DESC, id DESC", (start, end))
        sink = io.StringIO()
        writer = csv.writer(sink, lineterminator="\r\n")
        for row in cursor:
            writer.writerow(row)
            rows += 1
            if rows % 1000 == 0:
                sink.seek(0)
                sink.truncate()
    conn.close()
    elapsed = time.perf_counter() - began
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed}


Scenario = Callable[[], dict[str, Any]]
