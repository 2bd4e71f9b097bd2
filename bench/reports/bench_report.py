"""Benchmark (issue 7): one weekly charge report over N charges (default 100,000), built from
PostgreSQL and sent over SMTP to a local aiosmtpd, timed and with peak RSS measured.

    .venv/bin/python -m bench.reports.bench_report [--charges 100000] [--stations 500]

It creates its own database (dropped afterwards unless --keep), seeds stations and charges
with server-side INSERT … SELECT (charges in the window plus as many outside it), starts
an aiosmtpd server in this process, and runs the report in a child process (`--child`):
the child's wall time for `ReportService.run_due()` and its peak RSS (VmHWM) are the figures.
The received message is then opened and its CSV rows counted. Targets: ≤ 10 s, ≤ 200 MiB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

WINDOW_END = datetime(2026, 11, 9, 2, 0, tzinfo=UTC)  # Sunday 8 Nov 23:00 in Sao Paulo
WINDOW_START = WINDOW_END - timedelta(days=7)
TARGET_SECONDS, TARGET_RSS_MIB = 10.0, 200.0


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(database_url: str, smtp_port: int) -> None:
    """The measured part: a scheduler tick that builds and sends the due report."""
    from save_server.bootstrap import bootstrap
    from save_server.config import Settings
    from save_server.infrastructure.reports.smtp import SmtpEmailSender, SmtpSecurity

    settings = Settings(database_url=database_url, log_level="WARNING")
    container = bootstrap(settings)
    sender = SmtpEmailSender("127.0.0.1", smtp_port, SmtpSecurity.NONE, timeout=60)
    now = [WINDOW_START + timedelta(hours=1)]
    reports = container.report_service(clock=lambda: now[0], sender=sender)
    reports.create_subscription(["admin@save.example"])
    rss_before = _status_kib("VmRSS")
    now[0] = WINDOW_END
    started = time.perf_counter()
    runs = reports.run_due()
    elapsed = time.perf_counter() - started
    container.close()
    print(json.dumps({
        "seconds": elapsed, "peak_rss_kib": _status_kib("VmHWM"), "rss_before_kib": rss_before,
        "runs": [{"state": r.state.value, "charges": r.charge_count, "attempts": r.attempts,
                  "error": r.last_error} for r in runs]}))


SEED_STATIONS = """
INSERT INTO stations (station_id, status, name)
SELECT 'CP-' || lpad(i::text, 5, '0'), 'connected', 'Station ' || i || ', Garagem "' || i || '"'
FROM generate_series(1, %(stations)s) AS i
"""

SEED_CHARGES = """
INSERT INTO charges (station_id, transaction_id, connector_id, id_tag, meter_start_wh,
                     meter_stop_wh, started_at, ended_at, stopped, stop_reason, status,
                     energy_wh, duration_seconds, sort_at)
SELECT 'CP-' || lpad((1 + i %% %(stations)s)::text, 5, '0'), i::text, 1 + i %% 2,
       'RFID-' || (i %% 5000), 1000.0 * i, 1000.0 * i + 500 + i %% 30000,
       e - make_interval(secs => 600 + i %% 7200), e, true,
       CASE WHEN i %% 20 = 0 THEN 'EmergencyStop' ELSE 'Local' END,
       CASE WHEN i %% 20 = 0 THEN 'error' ELSE 'finished' END,
       500 + i %% 30000, 600 + i %% 7200, e - make_interval(secs => 600 + i %% 7200)
FROM (SELECT i, %(origin)s::timestamptz + make_interval(secs => (i * %(step)s)) AS e
      FROM generate_series(1, %(count)s) AS i) AS s
"""


def seed(url: str, charges: int, stations: int) -> None:
    import psycopg2
    from sqlalchemy.engine import make_url

    u = make_url(url)
    db = psycopg2.connect(host=u.host, port=u.port, user=u.username, dbname=u.database)
    window = (WINDOW_END - WINDOW_START).total_seconds()
    with db, db.cursor() as cursor:
        cursor.execute(SEED_STATIONS, {"stations": stations})
        # in the window: spread over the week; outside: the week before (another window)
        cursor.execute(SEED_CHARGES, {"stations": stations, "count": charges,
                                      "origin": WINDOW_START, "step": window / (charges + 1)})
        cursor.execute(SEED_CHARGES.replace("i::text, 1 + i", "'old-' || i::text, 1 + i"),
                       {"stations": stations, "count": charges,
                        "origin": WINDOW_START - timedelta(days=7),
                        "step": window / (charges + 1)})
        cursor.execute("ANALYZE charges")
    db.close()


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal:"))
    return (f"nproc={os.cpu_count()}, {cpu}, {mem / 1024 / 1024:.1f} GiB RAM, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--charges", type=int, default=100_000)
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--postgres", default=os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--child", nargs=2, metavar=("DATABASE_URL", "SMTP_PORT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0

    from aiosmtpd.controller import Controller
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from save_server.infrastructure.db.engine import migrate

    name = f"bench_reports_{uuid.uuid4().hex[:10]}"
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text(f'CREATE DATABASE "{name}"'))

    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.original_content or envelope.content)
            return "250 OK"

    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtp = Controller(Handler(), hostname="127.0.0.1", port=port,
                      data_size_limit=256 * 1024 * 1024)
    smtp.start()
    try:
        migrate(url)
        t0 = time.perf_counter()
        seed(url, args.charges, args.stations)
        seeded = time.perf_counter() - t0
        result = subprocess.run([sys.executable, __file__, "--child", url, str(port)],
                                capture_output=True, text=True, check=True)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        smtp.stop()
        if not args.keep:
            with admin.connect() as db:
                db.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    message = message_from_bytes(received[0], policy=policy.default)
    [part] = list(message.iter_attachments())  # type: ignore[attr-defined]
    payload = part.get_payload(decode=True)
    csv_bytes = gzip.decompress(payload) if part.get_filename().endswith(".gz") else payload
    rows = csv_bytes.count(b"\r\n") - 1
    seconds, peak_mib = figures["seconds"], figures["peak_rss_kib"] / 1024
    ok = (rows == args.charges and seconds <= TARGET_SECONDS and peak_mib <= TARGET_RSS_MIB
          and figures["runs"][0]["state"] == "sent")
    print(f"command: {shlex.join(['python', *sys.argv])}")
    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {machine()}")
    print(f"seeded {args.charges:,} charges in the window + {args.charges:,} outside, "
          f"{args.stations} stations, in {seeded:.1f} s")
    print(f"report: {figures['runs'][0]}")
    print(f"e-mail: {len(received)} received, {len(received[0]) / 1e6:.1f} MB; attachment "
          f"{part.get_filename()} {len(payload) / 1e6:.1f} MB, CSV {len(csv_bytes) / 1e6:.1f} "
          f"MB, {rows:,} rows")
    print(f"build + send: {seconds:.2f} s (target ≤ {TARGET_SECONDS:.0f} s)")
    print(f"peak RSS of the reporting process: {peak_mib:.0f} MiB "
          f"(target ≤ {TARGET_RSS_MIB:.0f} MiB; {figures['rss_before_kib'] / 1024:.0f} MiB "
          f"before the run)")
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
