"""event-store benchmark (issue 5), embedded SQLite adapter: ingest through the worker (in-process
broker and RabbitMQ), replay from store to broker, `GET /events` over 5,000,000 stored events.
Prints a markdown report; also writes it with the raw figures to
bench/results/<UTC time>-event-store/. MongoDB is not measured (see the report).

    .venv/bin/python -m bench.event_store.run           # full size (~10 min incl. seeding)
    .venv/bin/python -m bench.event_store.run --smoke   # small, < 1 min
    .venv/bin/python -m bench.event_store.run --store /tmp/es.sqlite3 --keep-store  # reuse
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common.machine import load_line, machine_lines, verdict
from bench.event_store import ingest_bench, replay_bench, store_bench
from bench.event_store.events import DAY0, bodies
from bench.event_store.processes import RabbitNames

RESULTS = Path(__file__).resolve().parents[1] / "results"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--events", type=int, default=5_000_000, help="seeded in the store")
    parser.add_argument("--stations", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", default="1,8",
                        help="comma-separated client concurrency levels for GET /events")
    parser.add_argument("--ingest-events", type=int, default=200_000, help="backlog drain")
    parser.add_argument("--paced-rate", type=float, default=10_000.0)
    parser.add_argument("--paced-seconds", type=float, default=15.0)
    parser.add_argument("--replay-days", type=float, default=2.0,
                        help="replayed window (2 days = 200,000 events at full size)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["query", "replay", "ingest", "rabbitmq"])
    parser.add_argument("--store", type=Path, default=None,
                        help="SQLite file to seed (or reuse when it holds --events events)")
    parser.add_argument("--keep-store", action="store_true",
                        help="keep the seeded file (default: delete it)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.events, args.requests, args.ingest_events = 100_000, 200, 10_000
        args.paced_rate, args.paced_seconds, args.replay_days = 5_000.0, 2.0, 5.0
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


def ms(s: dict[str, Any]) -> str:
    return f"p50 {s['p50_ms']:.1f} / p99 {s['p99_ms']:.1f} / max {s['max_ms']:.1f} ms"


def prepare_store(path: Path, args: argparse.Namespace, report: Report) -> None:
    if path.exists() and store_bench.count(path) == args.events:
        report.add(f"- reused the seeded store `{path}` ({args.events:,} events)")
        return
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    seeded = store_bench.seed(path, args.stations, args.days, args.events)
    report.figures["seed"] = seeded
    report.add(f"- seeded {seeded['events']:,} events ({args.stations:,} stations x "
               f"{args.days} days, {args.events // (args.stations * args.days):,} events per "
               f"station per day) through `SqliteEventStorage.save_many` in batches of "
               f"{store_bench.SEED_BATCH:,}: {seeded['seconds']:.0f} s "
               f"({seeded['events_per_s']:,.0f} events/s), file {seeded['file_mib']:,.0f} MiB")


def query_part(path: Path, args: argparse.Namespace, report: Report, out: Path) -> None:
    plans = store_bench.day_plans(args.stations, args.days, args.requests, random.Random(3))
    levels = [int(c) for c in args.concurrency.split(",")]
    apis = {c: store_bench.query_api(path, plans, c, out / "api-query.log") for c in levels}
    sql = store_bench.query_sql(path, plans)  # after the API runs: the same warm page cache
    report.figures["query_sql"] = sql
    for level, api in apis.items():
        report.figures[f"query_api_c{level}"] = api
        report.row(f"`GET /events` one station, one day, over {args.events:,} events",
                   f"{api['n']:,} requests, {level} concurrent: {ms(api)}, "
                   f"{api['rows'] / max(1, api['n']):.0f} events per response, "
                   f"{api['requests_per_s']:.0f} req/s, {api['error_count']} errors",
                   "p99 ≤ 50 ms", verdict(api["p99_ms"], 50),
                   f"sqlite3, same SQL, sequential: {ms(sql)} (plan: {sql['plan']})")


def replay_part(path: Path, names: RabbitNames | None, args: argparse.Namespace,
                report: Report, out: Path) -> None:
    start = DAY0 + timedelta(days=1)
    end = start + timedelta(days=args.replay_days) - timedelta(microseconds=1)
    window = replay_bench.window_bodies(path, start, end)
    embedded = replay_bench.embedded(path, start, end, window)
    report.figures["replay_embedded"] = embedded
    report.row(f"replay {embedded['events_sent']:,} events to a queue, in-process broker",
               f"{embedded['rate']:,.0f} events/s (job `{embedded['state']}`, queue got "
               f"{embedded['queue_depth']:,})", "≥ 20,000 events/s",
               verdict(embedded["rate"], 20_000, higher_is_better=True),
               f"`publish_to_queue` of the same bodies: "
               f"{embedded['baseline_publish_per_s']:,.0f}/s")
    if names is None:
        return
    rabbit = replay_bench.rabbitmq(path, names, start, end, window, out / "api-replay.log")
    report.figures["replay_rabbitmq"] = rabbit
    ceiling = "; ".join(f"{c['publishers']} publisher{'s' if c['publishers'] > 1 else ''}: "
                        f"{c['per_s']:,}/s (broker CPU {c['broker_cpu_pct']} %, machine busy "
                        f"{c['machine_busy_pct']} %)" for c in rabbit["ceiling"])
    report.row(f"replay {rabbit['events_sent']:,} events to a queue, RabbitMQ "
               "(`POST /replays`)",
               f"{rabbit['rate']:,.0f} events/s (job `{rabbit['state']}`, queue got "
               f"{rabbit['queue_depth']:,}; broker CPU {rabbit['broker_cpu_pct']} %, machine "
               f"busy {rabbit['machine_busy_pct']} %)", "≥ 20,000 events/s",
               verdict(rabbit["rate"], 20_000, higher_is_better=True),
               f"broker ceiling, persistent + confirmed from memory into one durable queue "
               f"({len(window):,} messages, pika SelectConnection, one process each): "
               f"{ceiling}; pika `basic_publish` without confirms: "
               f"{rabbit['baseline_plain_per_s']:,.0f}/s")


def kept_up(paced: dict[str, Any]) -> str:
    """The stored rate over publish + tail is below the offered rate by construction; what
    counts is that ≥ 10,000/s was offered and the worker had no backlog at the end."""
    if paced["publish_rate"] < 0.98 * 10_000:
        return "MISS (offered < 10,000/s)"
    return "PASS" if paced["backlog_after_publish_s"] < 1.0 else "MISS (backlog)"


def ingest_part(workdir: Path, names: RabbitNames | None, args: argparse.Namespace,
                report: Report, out: Path) -> None:
    paced_count = int(args.paced_rate * args.paced_seconds)
    generated = list(bodies(args.stations, 3, args.ingest_events + paced_count,
                            first_sequence=10**11))
    drain, paced = generated[:args.ingest_events], generated[args.ingest_events:]
    baseline = ingest_bench.raw_insert_baseline(workdir, drain)
    base_text = f"sqlite3 `executemany`, 500 per transaction: {baseline['events_per_s']:,.0f}/s"
    embedded = ingest_bench.embedded(workdir, drain, paced, args.paced_rate)
    report.figures.update(ingest_baseline=baseline, ingest_embedded=embedded)
    rows = [("in-process broker", embedded)]
    if names is not None:
        rabbit = ingest_bench.rabbitmq(workdir, names, drain, paced, args.paced_rate,
                                       out / "worker.log")
        report.figures["ingest_rabbitmq"] = rabbit
        rows.append(("RabbitMQ, `python -m event_store worker`", rabbit))
    for label, result in rows:
        d, p = result["drain"], result["paced"]
        baseline_text = base_text
        if "baseline_consume_per_s" in result:
            baseline_text += (f"; pika `basic_consume` of the same messages, doing nothing: "
                              f"{result['baseline_consume_per_s']:,.0f}/s")
        report.row(f"ingest, {label}: drain of a {d['events']:,}-event backlog",
                   f"{d['events_per_s']:,.0f} events/s ({d['stored']:,} stored)",
                   "≥ 10,000 events/s", verdict(d["events_per_s"], 10_000, True),
                   baseline_text)
        report.row(f"ingest, {label}: published at {p['target_rate']:,.0f}/s for "
                   f"{args.paced_seconds:.0f} s while consuming",
                   f"published {p['publish_rate']:,.0f}/s, stored {p['events_per_s']:,.0f}/s "
                   f"({p['stored']:,}/{p['events']:,}); all stored "
                   f"{p['backlog_after_publish_s']:.2f} s after the last publish",
                   "10,000/s offered, kept up (all stored < 1 s after the last publish)",
                   kept_up(p), "—")


def quiet_logs() -> None:
    """The service code running inside the bench process logs through structlog."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    quiet_logs()
    out = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-event-store"
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-event-store-"))
    store = args.store or workdir / "store.sqlite3"
    names = None if "rabbitmq" in args.skip else RabbitNames()
    report = Report()
    report.add("### event-store (issue 5)")
    report.add()
    for line in machine_lines(["-m", "bench.event_store.run", *argv]):
        report.add(f"- {line}")
    report.add("- storage: the embedded SQLite adapter (`SqliteEventStorage`); MongoDB: "
               + ("MONGO_URL is set but this bench measures SQLite only"
                  if os.environ.get("MONGO_URL") else
                  "MONGO_URL not set, no MongoDB reachable: no MongoDB figures"))
    try:
        if not {"query", "replay"} <= set(args.skip):
            prepare_store(store, args, report)
        report.add()
        report.add("| what | measured | target | result | baseline (same run) |")
        report.add("|---|---|---|---|---|")
        if "query" not in args.skip:
            query_part(store, args, report, out)
        if "replay" not in args.skip:
            replay_part(store, names, args, report, out)
        if "ingest" not in args.skip:
            ingest_part(workdir, names, args, report, out)
    finally:
        if names is not None:
            names.delete()
        if args.store is not None and not args.keep_store:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{args.store}{suffix}").unlink(missing_ok=True)
        if args.keep_store and args.store is None:
            kept = RESULTS / "event-store.sqlite3"
            shutil.move(str(store), kept)
            report.add(f"\n- kept the seeded store as `{kept}`")
        shutil.rmtree(workdir, ignore_errors=True)
        report.add(f"- {load_line('at the end')}")
        (out / "report.md").write_text("\n".join(report.lines) + "\n")
        (out / "results.json").write_text(json.dumps(report.figures, indent=2, default=str))
        print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
