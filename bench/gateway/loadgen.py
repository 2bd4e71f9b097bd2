"""Load generator: N simulated OCPP 1.6 stations over loopback websockets against one target.

    python -m bench.gateway.loadgen --port 9000 --stations 200 --rate 1000 --duration 60 \
        --target-pid 1234 --json result.json

Phases (absolute wall clock, shared by every generator process):
  connect  N stations open their websocket within --ramp seconds (evenly spaced, or at random
           moments with --arrival random: a reconnect storm), each sends BootNotification once;
  settle   --settle seconds of quiet: the target's RSS at the end is "RSS with N idle stations";
  steady   --duration seconds of periodic calls (Heartbeat / StatusNotification / MeterValues
           mix) at an aggregate --rate, spread evenly over the stations;
  close    every station closes its websocket; the run stops by itself (hard deadline).
Reports stations held, failed handshakes, calls/s achieved, round trip p50/p99/max, errors, and
the target's CPU and RSS (from /proc, given --target-pid). JSON with --json, summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bench.gateway.frames import DEFAULT_MIX, CallMix
from bench.gateway.procstat import ProcessSampler
from bench.gateway.station import WorkerPlan, WorkerReport, run_worker

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_STATIONS = 20_000
MAX_PHASE_SECONDS = 3_600


def percentile(sorted_values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-share * len(sorted_values) // 1)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_figures(values: list[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 0.50),
        "p90": percentile(ordered, 0.90),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else None,
        "mean": sum(ordered) / len(ordered) if ordered else None,
    }


def timeline(samples: list[tuple[float, float]], start: float, end: float,
             bucket: float) -> list[dict[str, float | int | None]]:
    """Round trips per time bucket of the steady phase: where the slow calls happened."""
    buckets: dict[int, list[float]] = {}
    for sent_at, latency in samples:
        buckets.setdefault(int((sent_at - start) // bucket), []).append(latency)
    rows = []
    for index in range(max(1, int(-(-(end - start) // bucket)))):
        values = sorted(buckets.get(index, []))
        rows.append({"from_s": index * bucket, "calls": len(values),
                     "p99": percentile(values, 0.99), "max": values[-1] if values else None})
    return rows


def raise_open_files_limit(needed: int) -> int:
    """Raise the soft limit on open files towards the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, needed))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--path-prefix", default="/ocpp/")
    parser.add_argument("--stations", type=int, default=100)
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--rate", type=float, help="aggregate periodic calls per second")
    rate.add_argument("--interval", type=float,
                      help="seconds between two calls of one station (rate = stations/interval)")
    parser.add_argument("--ramp", type=float, default=5.0, help="connect window in seconds")
    parser.add_argument("--arrival", choices=("even", "random"), default="even")
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0, help="steady phase in seconds")
    parser.add_argument("--mix", default=CallMix.from_weights(DEFAULT_MIX).describe())
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--target-pid", type=int)
    parser.add_argument("--compression", choices=("deflate", "none"), default="deflate",
                        help="what the stations offer; the target decides (default: offer it)")
    parser.add_argument("--handshake-timeout", type=float, default=10.0)
    parser.add_argument("--call-timeout", type=float, default=10.0)
    parser.add_argument("--station-prefix", default="BENCH")
    parser.add_argument("--label", default="")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", dest="json_path", help="write the figures as JSON ('-': stdout)")
    parser.add_argument("--quiet", action="store_true", help="no human-readable summary")
    args = parser.parse_args(argv)
    if args.host not in LOOPBACK_HOSTS:
        parser.error("--host must be a loopback address (this tool is for local benchmarks)")
    if not 1 <= args.stations <= MAX_STATIONS:
        parser.error(f"--stations must be between 1 and {MAX_STATIONS}")
    for name in ("ramp", "settle", "duration"):
        if not 0 <= getattr(args, name) <= MAX_PHASE_SECONDS:
            parser.error(f"--{name} must be between 0 and {MAX_PHASE_SECONDS} seconds")
    if args.interval is not None and args.interval <= 0:
        parser.error("--interval must be positive")
    if not 1 <= args.processes <= 16:
        parser.error("--processes must be between 1 and 16")
    CallMix.parse(args.mix)  # fail early on a bad mix
    return args


def build_plans(args: argparse.Namespace, start_at: float) -> list[WorkerPlan]:
    rng = random.Random(args.seed)
    run_tag = uuid.uuid4().hex[:6]
    if args.rate is not None:
        rate = args.rate
    elif args.interval is not None:
        rate = args.stations / args.interval
    else:
        rate = 0.0
    stations = []
    for index in range(args.stations):
        if args.arrival == "random":
            offset = rng.uniform(0, args.ramp)
        else:
            offset = args.ramp * index / args.stations
        stations.append((index, f"{args.station_prefix}-{run_tag}-{index:05d}", offset))
    steady_at = start_at + args.ramp + args.settle
    url_prefix = f"ws://{args.host}:{args.port}{args.path_prefix}"
    return [
        WorkerPlan(
            url_prefix=url_prefix,
            stations=tuple(stations[worker :: args.processes]),
            total_stations=args.stations,
            start_at=start_at,
            steady_at=steady_at,
            end_at=steady_at + args.duration,
            rate=rate,
            mix=args.mix,
            handshake_timeout=args.handshake_timeout,
            call_timeout=args.call_timeout,
            compression=None if args.compression == "none" else "deflate",
            seed=args.seed + worker,
        )
        for worker in range(args.processes)
    ]


def run_plans(plans: list[WorkerPlan]) -> list[WorkerReport]:
    if len(plans) == 1:
        return [run_worker(plans[0])]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(plans), mp_context=context,
                             initializer=raise_open_files_limit,
                             initargs=(len(plans[0].stations) + 256,)) as pool:
        return list(pool.map(run_worker, plans))


def merge_figures(args: argparse.Namespace, plans: list[WorkerPlan], reports: list[WorkerReport],
                  sampler: ProcessSampler | None) -> dict[str, Any]:
    plan = plans[0]
    handshake_failures: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    steady_by_action: dict[str, list[float]] = {}
    for report in reports:
        handshake_failures.update(report.handshake_failures)
        errors.update(report.errors)
        for action, values in report.steady_ms.items():
            steady_by_action.setdefault(action, []).extend(values)

    def total(name: str) -> int:
        return sum(getattr(report, name) for report in reports)

    held_idle = total("booted_before_steady")
    answered = total("steady_calls_answered")
    duration = plan.end_at - plan.steady_at
    last_handshake = max(report.last_handshake_at for report in reports)
    figures: dict[str, Any] = {
        "label": args.label,
        "config": {
            "url_prefix": plan.url_prefix, "stations": args.stations, "rate": plan.rate,
            "ramp_s": args.ramp, "arrival": args.arrival, "settle_s": args.settle,
            "duration_s": args.duration, "mix": args.mix, "processes": args.processes,
            "compression_offered": args.compression, "call_timeout_s": args.call_timeout,
            "handshake_timeout_s": args.handshake_timeout,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(plan.start_at)),
        },
        "stations": {
            "requested": args.stations,
            "handshakes_ok": sum(len(report.handshake_ms) for report in reports),
            "failed_handshakes": sum(handshake_failures.values()),
            "failed_handshakes_by_kind": dict(handshake_failures),
            "compressed_connections": total("compressed_connections"),
            "held_idle_before_steady": held_idle,
            "held_at_end": total("held_at_end"),
            "closed_by_server": total("closed_by_server"),
            "connect_phase_s": round(last_handshake - plan.start_at, 3) if last_handshake else None,
        },
        "calls": {
            "target_rate": plan.rate,
            "sent": total("steady_calls_sent"),
            "answered": answered,
            "achieved_rate": answered / duration if duration > 0 else None,
            "late_sends": total("late_sends"),
            "max_send_lag_ms": max(report.max_send_lag_ms for report in reports),
            "server_calls": total("server_calls"),
            "stale_responses": total("stale_responses"),
        },
        "latency_ms": {
            "steady": latency_figures([v for vs in steady_by_action.values() for v in vs]),
            "by_action": {a: latency_figures(v) for a, v in sorted(steady_by_action.items())},
            "boot": latency_figures([v for report in reports for v in report.boot_ms]),
            "handshake": latency_figures([v for report in reports for v in report.handshake_ms]),
            "steady_timeline": timeline(
                [sample for report in reports for sample in report.steady_timeline],
                plan.steady_at, plan.end_at, bucket=max(1.0, duration / 60)),
        },
        "errors": dict(errors),
        "aborted": any(report.aborted for report in reports),
        "generator": {
            "cpu_percent_steady": (100 * total("cpu_seconds_steady") / duration
                                   if duration > 0 else None),
            "longest_gc_pause_ms": max(report.longest_gc_pause_ms for report in reports),
        },
        "target": None,
    }
    if sampler is not None:
        before = sampler.rss_at(plan.start_at)
        idle = sampler.rss_at(plan.steady_at)
        figures["target"] = {
            "pid": sampler.pid,
            "rss_before_bytes": before,
            "rss_idle_connected_bytes": idle,
            "rss_end_of_steady_bytes": sampler.rss_at(plan.end_at),
            "rss_peak_bytes": sampler.rss_peak(),
            "rss_growth_per_idle_station_bytes": (
                (idle - before) / held_idle if before and idle and held_idle else None),
            "cpu_percent_connect": sampler.cpu_percent(plan.start_at, plan.steady_at),
            "cpu_percent_steady": sampler.cpu_percent(plan.steady_at, plan.end_at),
            "machine_busy_percent_steady": sampler.system_busy_percent(plan.steady_at,
                                                                        plan.end_at),
        }
    return figures


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def summary(figures: dict[str, Any]) -> str:
    stations, calls, latency = figures["stations"], figures["calls"], figures["latency_ms"]
    steady, boot, handshake = latency["steady"], latency["boot"], latency["handshake"]
    lines = [
        f"== {figures['label'] or 'loadgen'}: {stations['requested']} stations, "
        f"rate {calls['target_rate']:.1f} calls/s, {figures['config']['duration_s']} s steady",
        f"stations: handshakes ok {stations['handshakes_ok']}, failed "
        f"{stations['failed_handshakes']} {stations['failed_handshakes_by_kind'] or ''}, held idle "
        f"{stations['held_idle_before_steady']}, held at end {stations['held_at_end']}, closed by "
        f"server {stations['closed_by_server']}, compressed {stations['compressed_connections']}, "
        f"connect phase {_fmt(stations['connect_phase_s'], ' s')}",
        f"calls: sent {calls['sent']}, answered {calls['answered']}, achieved "
        f"{_fmt(calls['achieved_rate'], '/s')}, late sends {calls['late_sends']} (max lag "
        f"{_fmt(calls['max_send_lag_ms'], ' ms')})",
        f"round trip ms: p50 {_fmt(steady['p50'], '', 2)} p99 {_fmt(steady['p99'], '', 2)} max "
        f"{_fmt(steady['max'], '', 2)} | boot p99 {_fmt(boot['p99'], '', 2)} | handshake p50 "
        f"{_fmt(handshake['p50'], '', 2)} p99 {_fmt(handshake['p99'], '', 2)}",
        f"errors: {figures['errors'] or 'none'}"
        + (" (ABORTED at the hard deadline)" if figures["aborted"] else ""),
        f"generator CPU during steady: {_fmt(figures['generator']['cpu_percent_steady'], ' %')}"
        f", longest GC pause {_fmt(figures['generator']['longest_gc_pause_ms'], ' ms')}",
    ]
    target = figures["target"]
    if target:
        mib = 1024 * 1024
        lines.append(
            f"target pid {target['pid']}: RSS before "
            f"{_fmt(_div(target['rss_before_bytes'], mib), ' MiB')}, "
            f"idle-connected {_fmt(_div(target['rss_idle_connected_bytes'], mib), ' MiB')}, peak "
            f"{_fmt(_div(target['rss_peak_bytes'], mib), ' MiB')}; growth per idle station "
            f"{_fmt(_div(target['rss_growth_per_idle_station_bytes'], 1024), ' KiB', 2)}; CPU "
            f"connect {_fmt(target['cpu_percent_connect'], ' %')}, steady "
            f"{_fmt(target['cpu_percent_steady'], ' %')} (machine busy "
            f"{_fmt(target['machine_busy_percent_steady'], ' %')})")
    return "\n".join(lines)


def _div(value: float | None, by: float) -> float | None:
    return None if value is None else value / by


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files_limit(args.stations // args.processes + 256)
    sampler = ProcessSampler(args.target_pid) if args.target_pid else None
    if sampler is not None:
        sampler.start()
    start_at = time.time() + 1.0 + (0.6 * args.processes if args.processes > 1 else 0)
    plans = build_plans(args, start_at)
    try:
        reports = run_plans(plans)
    finally:
        if sampler is not None:
            sampler.stop()
    figures = merge_figures(args, plans, reports, sampler)
    if args.json_path == "-":
        json.dump(figures, sys.stdout, indent=2)
        print()
    elif args.json_path:
        with open(args.json_path, "w") as output:
            json.dump(figures, output, indent=2)
    if not args.quiet:
        print(summary(figures), file=sys.stderr if args.json_path == "-" else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
