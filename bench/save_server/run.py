"""save-server benchmark (issue 4): REST API over 1,000,000 charges / 10,000 stations in
PostgreSQL, and worker ingest from RabbitMQ. Prints a markdown report; also writes it with the
raw figures to bench/results/<UTC time>-save-server/.

    .venv/bin/python -m bench.save_server.run              # full size (~10 min incl. seeding)
    .venv/bin/python -m bench.save_server.run --smoke      # small, < 1 min
    .venv/bin/python -m bench.save_server.run --keep-database   # reuse the seeded DB next time
    .venv/bin/python -m bench.save_server.run --drop-only       # drop bench_save and exit
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common.machine import load_line, machine_lines, verdict
from bench.save_server import api_bench, ingest_bench
from bench.save_server.database import BenchDatabase, seed
from bench.save_server.sessions import Event, session_events

RESULTS = Path(__file__).resolve().parents[1] / "results"
SEED_REVISION = "0003_station_commands"  # the schema `database.seed` writes


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true",
                        help="1,000 stations, 50,000 charges, short runs")
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--charges", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2_000, help="per latency scenario")
    parser.add_argument("--concurrency", default="1,8",
                        help="comma-separated client concurrency levels")
    parser.add_argument("--deep-entries", type=int, default=100,
                        help="random entry points for deep pages (each + 4 Link pages)")
    parser.add_argument("--budget", type=float, default=90.0,
                        help="seconds per latency scenario; plans not started are skipped")
    parser.add_argument("--csv-rows", type=int, default=100_000)
    parser.add_argument("--drain-events", type=int, default=5_000)
    parser.add_argument("--paced-rate", type=float, default=2_000.0)
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--ingest-stations", type=int, default=1_000)
    parser.add_argument("--profile", action="store_true",
                        help="py-spy every worker process per ingest phase (raw stacks in the "
                             "results folder; summarise with bench/gateway/pyspy_top.py)")
    parser.add_argument("--ingest-wait", type=float, default=60.0,
                        help="seconds to wait for the worker after the last paced publish")
    parser.add_argument("--low-rate", type=float, default=0.0,
                        help="second paced run at this rate (default: half the drain rate, "
                        "run only if the drain is below --paced-rate)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker role as N `python -m save_server worker` processes")
    parser.add_argument("--shards", type=int, default=0,
                        help="SAVE_SERVER_SHARDS of the workers (0: one queue)")
    parser.add_argument("--warm-up-seconds", type=float, default=0.0,
                        help="paced runs: publish at the rate this long before the measured "
                        "events (shard hand-over between workers), reported apart")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["api", "csv", "ingest"], help="leave a part out")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--database", default=None, help="default bench_save[_smoke]")
    parser.add_argument("--keep-database", action="store_true",
                        help="keep the seeded database for the next run (default: drop it)")
    parser.add_argument("--drop-only", action="store_true", help="drop the database and exit")
    args = parser.parse_args(argv)
    if args.smoke:
        args.stations, args.charges, args.requests, args.deep_entries = 1_000, 50_000, 200, 40
        args.budget = 10.0
        args.csv_rows, args.drain_events, args.ingest_stations = 10_000, 1_500, 100
        args.paced_rate, args.paced_seconds, args.ingest_wait = 500.0, 3.0, 10.0
    args.database = args.database or ("bench_save_smoke" if args.smoke else "bench_save")
    return args


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.figures: dict[str, Any] = {}

    def add(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def row(self, what: str, figure: str, target: str, result: str, baseline: str) -> None:
        self.add(f"| {what} | {figure} | {target} | {result} | {baseline} |")


def ensure_seeded(db: BenchDatabase, args: argparse.Namespace, report: Report) -> None:
    if db.exists():
        conn = db.connect()
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT (SELECT count(*) FROM stations), (SELECT count(*) FROM charges"
                           " WHERE transaction_id::bigint < 10000000)")
            stations, charges = cursor.fetchone()
        conn.close()
        if (stations, charges) == (args.stations, args.charges):
            db.migrate()  # a database kept by older code gets the newer revisions
            report.add(f"- reused the seeded database `{db.name}` ({stations:,} stations, "
                       f"{charges:,} seeded charges), migrated to head")
            return
        db.drop()
    db.create()
    began = time.perf_counter()
    # Seeded like a database that existed before the stored station documents (0004), then
    # upgraded: the upgrade writes every station's document, as it would in production.
    db.migrate(SEED_REVISION)
    migrate_s = time.perf_counter() - began
    timings = seed(db, args.stations, args.charges)
    began = time.perf_counter()
    db.migrate()
    upgrade_s = time.perf_counter() - began
    report.figures["seed"] = {"migrate_s": migrate_s, "upgrade_s": upgrade_s, **timings}
    report.add(f"- created `{db.name}`, migrated to `{SEED_REVISION}` {migrate_s:.1f} s, seeded "
               f"{args.stations:,} stations (2 connectors, 3 readings each) and "
               f"{args.charges:,} charges over one year in {timings['charges']:.1f} s "
               f"(INSERT … SELECT generate_series), VACUUM ANALYZE "
               f"{timings['vacuum_analyze']:.1f} s, then `python -m save_server migrate` to "
               f"head (stations' documents written) {upgrade_s:.1f} s")


def ms(summary: dict[str, Any]) -> str:
    return f"p50 {summary['p50_ms']:.1f} / p99 {summary['p99_ms']:.1f} / max " \
           f"{summary['max_ms']:.1f} ms"


def api_part(db: BenchDatabase, args: argparse.Namespace, report: Report, out: Path) -> None:
    rng = random.Random(11)
    with api_bench.api_process(db, str(out / "api.log")) as (base, _pid):
        week = api_bench.station_week_plans(args.stations, args.requests, rng)
        entries = api_bench.random_charges(db, args.deep_entries, seed=5)
        deep = api_bench.deep_page_plans(entries, 4)
        api_bench.measure_plans(base, week[:50], 4)  # warm-up
        levels = [int(c) for c in args.concurrency.split(",")]
        week_api = {c: api_bench.measure_plans(base, week, c, args.budget) for c in levels}
        deep_api = {c: api_bench.measure_plans(base, deep, c, args.budget) for c in levels}
        week_sql = api_bench.sql_baseline(db, api_bench.station_week_sql(week))
        deep_sql = api_bench.sql_baseline(db, api_bench.deep_page_sql(entries))
        deep_or_sql = api_bench.sql_baseline(
            db, api_bench.deep_page_sql(entries, row_value=False), args.budget)
        repeats = 10 if not args.smoke else 5
        api_bench.stations_list(base, 1)  # warm-up
        stations_api = api_bench.stations_list(base, repeats)
        stations_sql = api_bench.stations_sql_baseline(db, repeats)
        documents_sql = api_bench.stations_sql_baseline(db, repeats,
                                                        api_bench.STATION_DOCUMENTS_SQL)
    report.figures.update(week_api=week_api, week_sql=week_sql, deep_api=deep_api,
                          deep_sql=deep_sql, deep_or_sql=deep_or_sql, stations_api=stations_api,
                          stations_sql=stations_sql, documents_sql=documents_sql)
    for c, result in week_api.items():
        report.row("`GET /charges` one station, one week", f"{result['n']:,} requests, "
                   f"{c} concurrent: {ms(result)}, {result['requests_per_s']:.0f} req/s, "
                   f"{result['error_count']} errors, {result['plans_skipped']} not started "
                   f"within {args.budget:.0f} s", "p99 ≤ 50 ms",
                   verdict(result["p99_ms"], 50), f"SQL, sequential: {ms(week_sql)}")
    for c, result in deep_api.items():
        report.row("`GET /charges?limit=100` deep pages (random entry, then 4 x `Link`)",
                   f"{result['n']:,} pages ({result['pages_followed']:,} via Link), {c} "
                   f"concurrent: {ms(result)}, {result['rows']:,} rows, "
                   f"{result['error_count']} errors, {result['plans_skipped']} entry points "
                   f"not started within {args.budget:.0f} s", "p99 ≤ 50 ms",
                   verdict(result["p99_ms"], 50),
                   f"SQL, sequential, row-value keyset `(sort_at, id) < (…)`: {ms(deep_sql)}; "
                   f"the API's OR form ({deep_or_sql['n']} queries): {ms(deep_or_sql)}")
    report.row(f"`GET /charging-stations` ({stations_api['stations']:,} stations, "
               f"{stations_api['bytes'] / 1e6:.1f} MB JSON)",
               f"{stations_api['n']} sequential (sent → body read): {ms(stations_api)}",
               "≤ 300 ms (max)", verdict(stations_api["max_ms"], 300),
               f"3 SQL reads of the rows: {ms(stations_sql)}; the stored documents "
               f"(`SELECT document`): {ms(documents_sql)}")


def csv_part(db: BenchDatabase, args: argparse.Namespace, report: Report, out: Path) -> None:
    start, end, expected = api_bench.csv_window(db, args.csv_rows)
    with api_bench.api_process(db, str(out / "api-csv.log")) as (base, pid):
        time.sleep(0.5)
        export = api_bench.csv_export(base, pid, start, end)
    raw = api_bench.csv_sql_baseline(db, start, end)
    report.figures.update(csv_api=export, csv_sql=raw, csv_expected=expected)
    report.row(f"`GET /charges.csv` {export['rows']:,} rows (expected {expected:,}), "
               f"{export['bytes'] / 1e6:.1f} MB",
               f"fresh API process: RSS {export['rss_before_mib']:.0f} MiB before, VmHWM "
               f"{export['vm_hwm_mib']:.0f} MiB after (sampled VmRSS peak "
               f"{export['rss_sampled_peak_mib']:.0f} MiB); {export['seconds']:.1f} s, "
               f"{export['rows_per_s']:,.0f} rows/s, first byte {export['first_byte_ms']:.0f} ms",
               "peak RSS ≤ 150 MiB", verdict(export["vm_hwm_mib"], 150),
               f"psycopg2 named cursor + csv: {raw['rows_per_s']:,.0f} rows/s")


def ingest_part(db: BenchDatabase, args: argparse.Namespace, report: Report, out: Path) -> None:
    baseline = ingest_bench.raw_insert_baseline(db, 2_000 if not args.smoke else 300)
    topology = ingest_bench.Topology(ingest_bench.AMQP_URL, args.shards)
    log, workers = str(out / "worker.log"), args.workers
    if args.profile:
        ingest_bench.PROFILE_DIR = out

    def paced_run(events: list[Event], rate: float) -> dict[str, Any]:
        warm_up = int(rate * args.warm_up_seconds)
        return ingest_bench.paced(db, topology, events[:warm_up + int(rate * args.paced_seconds)],
                                  rate, log, args.ingest_wait, workers, warm_up)

    try:
        events = session_events(args.ingest_stations, args.drain_events + 2 * int(
            args.paced_rate * (args.paced_seconds + args.warm_up_seconds)))
        drained = ingest_bench.drain(db, topology, events[:args.drain_events], log,
                                     timeout=600, workers=workers)
        used = args.drain_events + int(args.paced_rate * (args.paced_seconds
                                                          + args.warm_up_seconds))
        runs = [paced_run(events[args.drain_events:used], args.paced_rate)]
        low = args.low_rate or round(drained["events_per_s"] * 0.5, -1)
        if args.low_rate or (drained["events_per_s"] < args.paced_rate and low >= 10):
            runs.append(paced_run(events[used:], low))
        dead = topology.dead_lettered()
    finally:
        topology.delete()
    report.figures.update(ingest_baseline=baseline, drain=drained, paced=runs,
                          dead_lettered=dead, workers=workers, shards=args.shards)
    role = (f"{workers} worker process{'es' if workers > 1 else ''}, "
            + (f"{args.shards} shard queues" if args.shards else "one queue"))
    report.row(f"worker role ({role}): drain of a {drained['events']:,}-event backlog "
               f"({args.ingest_stations:,} stations' sessions)",
               f"{drained['events_per_s']:,.0f} events/s ({drained['processed']:,} processed, "
               f"{dead} dead-lettered)", "≥ 2,000 events/s",
               verdict(drained["events_per_s"], 2000, higher_is_better=True),
               f"psycopg2: {baseline['commit_per_row_per_s']:,.0f} rows/s one commit each, "
               f"{baseline['batch_500_per_s']:,.0f} rows/s in batches of 500")
    for run in runs:
        observed = run["commit_observed_lag"]
        warm = ""
        if run["warm_up_events"]:
            held = {k: sorted(v.values()) for k, v in run["active_shards_per_worker"].items()}
            warm = (f"; measured after {run['warm_up_events']:,} warm-up events at the same "
                    f"rate (their processed_at lag {ms(run['warm_up_processed_at_lag'])}); "
                    f"active shards per worker connection: idle {held.get('idle')}, half-way "
                    f"through the warm-up {held.get('warm_up_half')}, after the run "
                    f"{held.get('measured_end')}")
        report.row(f"worker role ({role}): lag at {run['target_rate']:,.0f} events/s for "
                   f"{args.paced_seconds:.0f} s",
                   f"published {run['achieved_publish_rate']:,.0f}/s, processed "
                   f"{run['processing_events_per_s']:,.0f}/s ({run['processed']:,}/"
                   f"{run['events']:,}, {run['purged_after']:,} left unprocessed after "
                   f"{args.ingest_wait:.0f} s "
                   f"and purged); commit observed {ms(observed)} "
                   f"({observed['n']} sampled, {run['commit_observed_unseen']} never seen); "
                   f"processed_at stamp {ms(run['processed_at_lag'])}; after the first "
                   f"{ingest_bench.WARM_UP_SECONDS:.0f} s: processed_at stamp "
                   f"{ms(run['steady_processed_at_lag'])} (workers consuming "
                   f"{run['consumer_after_s']:.1f} s after their start){warm}",
                   "lag p99 ≤ 250 ms", verdict(observed["p99_ms"], 250), "—")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    db = BenchDatabase(args.pg_host, args.pg_port, args.pg_user, args.database)
    if args.drop_only:
        db.drop()
        print(f"dropped {db.name}")
        return 0
    out = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-save-server"
    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    report.add("### save-server (issue 4)")
    report.add()
    for line in machine_lines(["-m", "bench.save_server.run", *argv]):
        report.add(f"- {line}")
    try:
        ensure_seeded(db, args, report)
        report.add()
        report.add("| what | measured | target | result | baseline (same run) |")
        report.add("|---|---|---|---|---|")
        if "api" not in args.skip:
            api_part(db, args, report, out)
        if "csv" not in args.skip:
            csv_part(db, args, report, out)
        if "ingest" not in args.skip:
            ingest_part(db, args, report, out)
    finally:
        if not args.keep_database:
            db.drop()
            report.add(f"\n- dropped `{db.name}`")
        report.add(f"- {load_line('at the end')}")
        (out / "report.md").write_text("\n".join(report.lines) + "\n")
        (out / "results.json").write_text(json.dumps(report.figures, indent=2, default=str))
        print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
