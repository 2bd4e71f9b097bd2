"""Gateway benchmarks of issue 3: the real gateway and the bare baseline, same load, same run.

    .venv/bin/python -m bench.gateway.run                      # all three, full size (~10 min)
    .venv/bin/python -m bench.gateway.run --scale 0.05 --duration 3     # smoke run, < 1 min
    .venv/bin/python -m bench.gateway.run --scenarios sustained --duration 30

For each scenario it starts the gateway (`python -m ocpp_events serve` against the local
RabbitMQ, with an exchange and a queue bound `#` of its own, deleted afterwards), runs the load
generator against it, stops it with SIGTERM, then does the same with the baseline server, and
prints a comparison table (Markdown) with pass/miss per target. Figures, logs and a
`results.json` go to --out (default bench/results/<UTC time>/, ignored by git).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import pathlib
import platform
import resource
import signal
import subprocess
import sys
import time
from typing import Any

from bench.gateway import targets
from bench.gateway.procstat import machine_busy_percent, wait_for_quiet
from bench.gateway.scenarios import SCENARIOS, Figures, Scenario

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
MIB = 1024 * 1024


def machine_info() -> dict[str, Any]:
    cpu_model = next((line.split(":", 1)[1].strip()
                      for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor())
    mem_kib = next(int(line.split()[1])
                   for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    versions = {}
    for package in ("ocpp", "websockets", "aio-pika", "ocpp-events"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"cpus": os.cpu_count(), "cpu_model": cpu_model, "memory_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "kernel": platform.release(),
            "git_commit": commit, "packages": versions,
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def run_loadgen(scenario: Scenario, target: targets.RunningTarget, args: argparse.Namespace,
                out_dir: pathlib.Path, label: str | None = None) -> Figures:
    label = label or target.name
    json_path = out_dir / f"{scenario.key}-{label}.json"
    loadgen_args = scenario.loadgen_args(args.scale, args.duration)
    argv = [sys.executable, "-m", "bench.gateway.loadgen", "--port", str(target.port),
            "--target-pid", str(target.pid), "--label", f"{scenario.key}/{label}",
            "--processes", str(args.processes), "--json", str(json_path), *loadgen_args]
    print(f"$ {' '.join(argv[1:])}", flush=True)
    profiler = start_profiler(target, out_dir / f"{scenario.key}-{label}.pyspy.txt") \
        if label in args.profile.split(",") else None
    try:
        subprocess.run(argv, check=True, timeout=args.timeout, cwd=REPO)
    finally:
        if profiler is not None:
            stop_profiler(profiler)
    figures: Figures = json.loads(json_path.read_text())
    figures["loadgen_args"] = " ".join(loadgen_args)
    return figures


def start_profiler(target: targets.RunningTarget,
                   output: pathlib.Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the target for the whole load run (collapsed stacks, idle excluded)."""
    py_spy = pathlib.Path(sys.executable).parent / "py-spy"
    return subprocess.Popen([str(py_spy), "record", "--pid", str(target.pid), "--format", "raw",
                             "--rate", "100", "--nonblocking", "--output", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(profiler: subprocess.Popen[bytes]) -> None:
    profiler.send_signal(signal.SIGINT)
    try:
        profiler.wait(timeout=30)
    except subprocess.TimeoutExpired:
        profiler.kill()


def wait_for_quiet_machine(args: argparse.Namespace) -> float:
    """With --quiet-below, wait (at most --quiet-timeout s) until the machine is that idle."""
    return wait_for_quiet(args.quiet_below, args.quiet_timeout,
                          3.0 if args.quiet_below else 1.0)


# Not judged: the baseline again with the broker traffic of the gateway beside it (see
# start_confirms_probe); the targets compare the gateway with the plain baseline only.
BASELINE_WITH_CONFIRMS = "baseline + broker confirms"


def run_target(name: str, scenario: Scenario, args: argparse.Namespace,
               out_dir: pathlib.Path) -> Figures | None:
    busy_before = wait_for_quiet_machine(args)
    log_dir = out_dir / f"{scenario.key}-logs"  # one directory per scenario: logs are not reused
    log_dir.mkdir(exist_ok=True)
    try:
        if name == "baseline":
            with targets.baseline_server(log_dir, tuple(args.baseline_arg)) as target:
                figures = run_loadgen(scenario, target, args, out_dir)
        elif name == BASELINE_WITH_CONFIRMS:
            with targets.baseline_server(log_dir, tuple(args.baseline_arg)) as target:
                probe = start_confirms_probe(args, out_dir, "confirms-alongside-baseline",
                                             _load_seconds(scenario, args))
                figures = run_loadgen(scenario, target, args, out_dir, "baseline-with-confirms")
                figures["confirms_alongside"] = finish_confirms_probe(*probe)
        else:
            with targets.bench_exchange(args.amqp_url, args.bench_queue,
                                        args.bench_consumer) as (exchange, _queue, audits), \
                    targets.gateway(log_dir, args.amqp_url, exchange, args.log_level,
                                    dict(args.gateway_env), gateway_wrapper(args)) as target:
                figures = run_loadgen(scenario, target, args, out_dir)
            figures["queue_audit"] = dataclasses.asdict(audits[0]) if audits else None
            metrics = target.extra.get("metrics")
            if isinstance(metrics, str):
                (out_dir / f"{scenario.key}-gateway.metrics.txt").write_text(metrics)
                figures["publish_confirm_s"] = targets.histogram_quantiles(
                    metrics, "ocpp_gateway_publish_seconds")
                figures["event_loop_lag_s"] = targets.histogram_quantiles(
                    metrics, "ocpp_gateway_event_loop_lag_seconds", (0.5, 0.99, 0.999))
    except (RuntimeError, subprocess.SubprocessError, OSError) as failure:
        print(f"!! {scenario.key}/{name} failed: {failure}", flush=True)
        return None
    figures["machine_busy_percent_before"] = round(busy_before, 1)
    figures["exit_code_after_sigterm"] = target.exit_code
    figures["stop_seconds"] = target.stop_seconds
    return figures


def _num(value: float | None, digits: int = 1, scale: float = 1.0) -> str:
    return "n/a" if value is None else f"{value / scale:.{digits}f}"


def comparison_rows(figures: Figures) -> list[str]:
    stations, calls, latency = figures["stations"], figures["calls"], figures["latency_ms"]
    steady, target = latency["steady"], figures["target"] or {}
    return [
        f"{stations['held_idle_before_steady']} / {stations['held_at_end']} "
        f"of {stations['requested']}",
        f"{stations['failed_handshakes']}",
        f"{_num(calls['achieved_rate'])} of {calls['target_rate']:.1f}",
        f"{_num(steady['p50'], 2)} / {_num(steady['p99'], 2)} / {_num(steady['max'], 1)}",
        f"{_num(latency['boot']['p50'], 2)} / {_num(latency['boot']['p99'], 2)}",
        f"{_num(latency['handshake']['p50'], 2)} / {_num(latency['handshake']['p99'], 2)}",
        f"{_num(target.get('rss_before_bytes'), 1, MIB)} → "
        f"{_num(target.get('rss_idle_connected_bytes'), 1, MIB)} "
        f"(peak {_num(target.get('rss_peak_bytes'), 1, MIB)})",
        _num(target.get("rss_growth_per_idle_station_bytes"), 1, 1024),
        f"{_num(target.get('cpu_percent_connect'), 0)} / "
        f"{_num(target.get('cpu_percent_steady'), 0)}",
        f"{_num(figures.get('machine_busy_percent_before'), 0)} before, "
        f"{_num(target.get('machine_busy_percent_steady'), 0)} steady "
        f"(generator {_num(figures['generator']['cpu_percent_steady'], 0)}, its longest GC "
        f"pause {_num(figures['generator'].get('longest_gc_pause_ms'), 0)} ms)",
        f"{stations['compressed_connections']}",
        str(figures["errors"] or "none") + (" ABORTED" if figures["aborted"] else ""),
        _audit(figures.get("queue_audit")),
        _confirms(figures.get("publish_confirm_s")),
        _loop_lag(figures.get("event_loop_lag_s")),
        f"{figures.get('exit_code_after_sigterm')} ({figures.get('stop_seconds')} s)",
    ]


def _audit(audit: dict[str, Any] | None) -> str:
    if not audit:
        return "—"
    types = ", ".join(f"{kind.removeprefix('ocpp-events.')} {count}"
                      for kind, count in sorted(audit["by_type"].items()))
    return f"{audit['messages']} ({types}; duplicate event ids {audit['duplicate_event_ids']})"


def _confirms(quantiles: dict[str, Any] | None) -> str:
    if not quantiles:
        return "—"

    def bound(value: float | None) -> str:
        return "n/a" if value is None else f"≤ {value * 1000:g}"
    return (f"{bound(quantiles.get('p50'))} / {bound(quantiles.get('p99'))} "
            f"({quantiles['count']} publishes)")


def _loop_lag(quantiles: dict[str, Any] | None) -> str:
    if not quantiles:
        return "—"
    return " / ".join("n/a" if quantiles.get(key) is None else f"≤ {quantiles[key] * 1000:g}"
                      for key in ("p50", "p99", "p99.9")) + f" ({quantiles['count']} samples)"


def _confirms_probe_argv(args: argparse.Namespace, json_path: pathlib.Path,
                         seconds: float) -> list[str]:
    return [sys.executable, "-m", "bench.gateway.broker_confirms", "--amqp-url", args.amqp_url,
            "--rate", f"{1000 * args.scale:g}",
            "--publishers", str(max(1, round(200 * args.scale))),
            "--duration", f"{seconds:g}", "--queue", args.bench_queue,
            "--json", str(json_path), *(["--consumer"] if args.bench_consumer else [])]


def _probe_figures(json_path: pathlib.Path, busy_before: float) -> dict[str, Any]:
    [figures] = json.loads(json_path.read_text())
    figures["machine_busy_percent_before"] = round(busy_before, 1)
    return dict(figures)


def run_confirms_probe(args: argparse.Namespace, out_dir: pathlib.Path) -> dict[str, Any] | None:
    """The broker alone, same run: broker_confirms.py at the gateway's traffic shape."""
    json_path = (out_dir / "confirms-probe.json").resolve()
    argv = _confirms_probe_argv(args, json_path, args.confirms_probe)
    print(f"$ {' '.join(argv[1:])}", flush=True)
    busy_before = machine_busy_percent(1.0)
    try:
        subprocess.run(argv, check=True, timeout=args.confirms_probe + 120, cwd=REPO)
    except (subprocess.SubprocessError, OSError) as failure:
        print(f"!! confirms probe failed: {failure}", flush=True)
        return None
    return _probe_figures(json_path, busy_before)


def _load_seconds(scenario: Scenario, args: argparse.Namespace) -> float:
    """How long the load generator drives calls: ramp + settle + steady phase."""
    load = scenario.loadgen_args(args.scale, args.duration)
    return sum(float(load[load.index(flag) + 1]) for flag in ("--ramp", "--settle", "--duration"))


ProbeRun = tuple[subprocess.Popen[bytes], pathlib.Path, float]


def start_confirms_probe(args: argparse.Namespace, out_dir: pathlib.Path, name: str,
                         seconds: float) -> ProbeRun:
    """broker_confirms.py in the background, e.g. beside the baseline: the broker's confirm
    latency while the machine carries the same load as during the gateway's run (the
    baseline's websocket work plus the broker traffic the gateway would cause)."""
    json_path = (out_dir / f"{name}.json").resolve()
    argv = _confirms_probe_argv(args, json_path, seconds)
    print(f"$ {' '.join(argv[1:])} &", flush=True)
    busy_before = machine_busy_percent(1.0)
    return subprocess.Popen(argv, cwd=REPO), json_path, busy_before


def finish_confirms_probe(process: subprocess.Popen[bytes], json_path: pathlib.Path,
                          busy_before: float) -> dict[str, Any] | None:
    try:
        if process.wait(timeout=180) != 0:
            raise subprocess.SubprocessError(f"exit code {process.returncode}")
    except (subprocess.SubprocessError, OSError) as failure:
        process.kill()
        print(f"!! confirms probe failed: {failure}", flush=True)
        return None
    return _probe_figures(json_path, busy_before)


ROW_NAMES = [
    "stations held (idle / at end)", "failed handshakes", "calls/s achieved",
    "round trip ms p50 / p99 / max", "BootNotification ms p50 / p99", "handshake ms p50 / p99",
    "target RSS MiB before → idle-connected", "RSS growth per idle station (KiB)",
    "target CPU % (connect / steady; 100 = 1 core)", "machine busy % (before start, during steady)",
    "connections with compression", "errors", "events confirmed into the bench queue",
    "publish → broker confirm ms p50 / p99 (gateway metrics, bucket bounds)",
    "event-loop lag ms p50 / p99 / p99.9 (gateway metrics, bucket bounds)",
    "exit code after SIGTERM (stop time)",
]


def report(scenario: Scenario, results: dict[str, Figures | None]) -> str:
    names = [name for name in results if results[name] is not None]
    columns = {name: comparison_rows(results[name]) for name in names}  # type: ignore[arg-type]
    lines = [f"### {scenario.title}", ""]
    if names:
        load = results[names[0]]["loadgen_args"]  # type: ignore[index]
        lines.append(f"Load (same for every target): `loadgen.py {load}`")
    lines += ["", "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for index, row_name in enumerate(ROW_NAMES):
        lines.append(f"| {row_name} | " + " | ".join(columns[n][index] for n in names) + " |")
    gateway = results.get("gateway")
    if gateway is not None and scenario.judge is not None:
        lines += ["", "| target (gateway) | measured | result |", "|---|---|---|"]
        for goal, passed, measured in scenario.judge(gateway, results.get("baseline")):
            verdict = "n/a" if passed is None else ("PASS" if passed else "MISS")
            lines.append(f"| {goal} | {measured} | **{verdict}** |")
    elif gateway is None and "gateway" in results:
        lines += ["", "gateway: no figures (it did not start or the run failed; see its log)"]
    return "\n".join(lines)


def confirms_report(probe: dict[str, Any] | None,
                    title: str = "Broker confirms alone, same run") -> str:
    if probe is None:
        return f"{title}: no figures (the probe failed)"
    confirm = probe["confirm_ms"]
    return (f"{title} (`broker_confirms.py`, queue {probe['queue']}, "
            f"consumer {'on' if probe['consumer'] else 'off'}, machine "
            f"{probe['machine_busy_percent_before']:.0f} % busy before, "
            f"{probe.get('machine_busy_percent_during', 0):.0f} % during): "
            f"{probe['achieved_rate']:.0f}/s, confirm ms p50 {confirm['p50']:.2f} / "
            f"p99 {confirm['p99']:.2f} / max {confirm['max']:.1f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="gateway vs baseline benchmarks (issue 3)")
    parser.add_argument("--scenarios", default="idle,sustained,storm",
                        help=f"comma-separated, from {', '.join(SCENARIOS)}")
    parser.add_argument("--targets", default="gateway,baseline")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply station counts, rates and connect windows (smoke: 0.05)")
    parser.add_argument("--duration", type=float, help="steady phase seconds (all scenarios)")
    parser.add_argument("--processes", type=int, default=1, help="load generator processes")
    parser.add_argument("--amqp-url", default=os.environ.get(
        "BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"))
    parser.add_argument("--log-level", default="WARNING", help="the gateway's LOG_LEVEL")
    parser.add_argument("--gateway-env", action="append", default=[], type=_key_value,
                        metavar="KEY=VALUE", help="extra environment for the gateway")
    parser.add_argument("--profile", default="", metavar="TARGETS",
                        help="py-spy the named targets (e.g. gateway) during each load run")
    parser.add_argument("--baseline-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for baseline_server.py (e.g. --baseline-arg=--backlog"
                             " --baseline-arg=4096)")
    parser.add_argument("--gateway-gc", action="store_true",
                        help="run the gateway through gc_wrapper.py: its GC pauses go to its log")
    parser.add_argument("--gateway-gc-freeze-every", type=float, metavar="SECONDS",
                        help="experiment: also gc.freeze() inside the gateway periodically")
    parser.add_argument("--quiet-below", type=float, default=0.0, metavar="PERCENT",
                        help="before each target, wait until the machine is less busy than this")
    parser.add_argument("--quiet-timeout", type=float, default=300.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="per load generator run")
    parser.add_argument("--bench-queue", default="classic", choices=tuple(targets.QUEUE_ARGUMENTS),
                        help="type of the bench queue (classic = the platform's queues)")
    parser.add_argument("--bench-consumer", action="store_true",
                        help="drain the bench queue during the run like the platform's workers")
    parser.add_argument("--confirms-probe", type=float, default=0.0, metavar="SECONDS",
                        help="after the targets, measure the broker's confirm latency alone "
                             "(broker_confirms.py, same queue) for this long")
    parser.add_argument("--confirms-alongside-baseline", action="store_true",
                        help="sustained scenario: run the baseline once more with "
                             "broker_confirms.py beside it at the gateway's traffic shape: the "
                             "broker's confirm latency under the gateway run's machine load "
                             "(reported, not judged)")
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args(argv)
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    if set(args.targets.split(",")) - {"gateway", "baseline"}:
        parser.error("--targets takes gateway and/or baseline")
    return args


def gateway_wrapper(args: argparse.Namespace) -> tuple[str, ...]:
    if args.gateway_gc_freeze_every:
        return ("--freeze-every", f"{args.gateway_gc_freeze_every:g}")
    return ("--stats-only",) if args.gateway_gc else ()


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the targets
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out_dir = args.out or HERE.parent / "results" / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    command = " ".join(["-m bench.gateway.run", *(argv if argv is not None else sys.argv[1:])])
    bench_queue = (f"bench queue: {args.bench_queue}, "
                   f"consumer {'on' if args.bench_consumer else 'off'}")
    print(f"$ {command}\nmachine: {json.dumps(machine)}\nresults: {out_dir}", flush=True)
    everything: dict[str, Any] = {"command": command, "machine": machine, "scale": args.scale,
                                  "bench_queue": bench_queue,
                                  "scenarios": {}}
    reports = []
    for key in args.scenarios.split(","):
        scenario = SCENARIOS[key]
        names = args.targets.split(",")
        if args.confirms_alongside_baseline and key == "sustained":
            names.append(BASELINE_WITH_CONFIRMS)
        results = {name: run_target(name, scenario, args, out_dir) for name in names}
        everything["scenarios"][key] = results
        first = len(reports)
        reports.append(report(scenario, results))
        if args.confirms_probe and key == "sustained":
            probe = run_confirms_probe(args, out_dir)
            everything["confirms_probe"] = probe
            reports.append(confirms_report(probe))
        alongside = results.get(BASELINE_WITH_CONFIRMS)
        if alongside is not None:
            reports.append(confirms_report(
                alongside["confirms_alongside"],
                f"Broker confirms beside the baseline (column \"{BASELINE_WITH_CONFIRMS}\")"))
        print("\n" + "\n\n".join(reports[first:]) + "\n", flush=True)
        (out_dir / "results.json").write_text(json.dumps(everything, indent=2))
    header = (f"Command: `{command}` — {machine['date_utc']}, commit {machine['git_commit']}; "
              f"{bench_queue}")
    (out_dir / "report.md").write_text(header + "\n\n" + "\n\n".join(reports) + "\n")
    print(f"written: {out_dir / 'results.json'} and {out_dir / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
