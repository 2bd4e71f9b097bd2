"""`make run` under load (issue 19, "Fast"): the embedded platform as a subprocess on a fresh
data directory, driven by the gateway benchmark's load generator, with a services-mode baseline
(the gateway alone on RabbitMQ, a consumer draining its queue) in the same run.

    .venv/bin/python -m bench.embedded.run                    # full size, ~5 minutes
    .venv/bin/python -m bench.embedded.run --smoke            # 10 % size, ~1 minute
    .venv/bin/python -m bench.embedded.run --scenarios load --targets embedded

Scenarios: `load` = 2,000 stations at 900 calls/s (target p99 <= 25 ms, 0 failed calls);
`idle` = 10,000 stations at one call per station per minute (target: the whole process tree's
RSS <= 400 MiB). Each target gets a fresh process (and, embedded, a fresh DATA_DIR). Prints a
Markdown table; figures, logs and `results.json` go to --out (default
bench/results/<UTC time>-embedded/, ignored by git). Wrap it in `flock /tmp/csms-bench.lock`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.common.machine import machine_lines
from bench.embedded.tree import TreeRssSampler
from bench.gateway import targets

REPO = pathlib.Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
P99_LIMIT_MS = 25.0
RSS_LIMIT_MIB = 400.0


@dataclass(frozen=True)
class Scenario:
    key: str
    stations: int
    ramp: float
    settle: float
    duration: float
    rate: float | None = None
    interval: float | None = None

    def loadgen_args(self, scale: float) -> list[str]:
        args = ["--stations", str(max(1, round(self.stations * scale))),
                "--ramp", f"{max(2.0, self.ramp * scale):g}", "--settle", f"{self.settle:g}",
                "--duration", f"{self.duration if scale == 1 else min(self.duration, 8):g}"]
        if self.rate is not None:
            args += ["--rate", f"{self.rate * scale:g}"]
        if self.interval is not None:
            args += ["--interval", f"{self.interval:g}"]
        return args


SCENARIOS = {
    "load": Scenario("load", stations=2_000, ramp=20, settle=3, duration=30, rate=900),
    "idle": Scenario("idle", stations=10_000, ramp=50, settle=5, duration=15, interval=60),
}


def embedded_env(data_dir: pathlib.Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"AMQP_URL", "DATABASE_URL", "MONGO_URL"}}
    env.update({name: str(targets.free_port()) for name in
                ("GATEWAY_PORT", "GATEWAY_HTTP_PORT", "SAVE_SERVER_PORT", "EVENT_STORE_PORT")})
    env.update({"DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING",
                "GATEWAY_HOST": "127.0.0.1", "SAVE_SERVER_HOST": "127.0.0.1",
                "EVENT_STORE_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1",
                "GATEWAY_UNKNOWN_STATIONS": "auto-register",  # the simulated stations
                "GATEWAY_UNKNOWN_ID_TAGS": "accept"})
    return env


@contextlib.contextmanager
def embedded(log_dir: pathlib.Path, extra_env: dict[str, str]) -> Iterator[targets.RunningTarget]:
    """`python -m csms_embedded` (what `make run` starts) on a fresh DATA_DIR."""
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as data:
        env = embedded_env(pathlib.Path(data) / "data")
        env.update(extra_env)
        port, http_port = int(env["GATEWAY_PORT"]), int(env["GATEWAY_HTTP_PORT"])
        target = targets._spawn("embedded", [sys.executable, "-m", "csms_embedded"], env,
                                log_dir, port)
        try:
            targets._wait_ready(target, lambda: targets.port_open(port)
                                and targets.http_ok(f"http://127.0.0.1:{http_port}/ready"))
            yield target
        finally:
            target.stop()


@contextlib.contextmanager
def services_gateway(log_dir: pathlib.Path, amqp_url: str) -> Iterator[targets.RunningTarget]:
    """Services mode's gateway (`python -m ocpp_events serve`) on RabbitMQ, its queue drained."""
    with targets.bench_exchange(amqp_url, consume=True) as (exchange, _queue, _audits), \
            targets.gateway(log_dir, amqp_url, exchange, "WARNING", {}) as target:
        yield target


def run_loadgen(scenario: Scenario, target: targets.RunningTarget, args: argparse.Namespace,
                out_dir: pathlib.Path, label: str) -> dict[str, Any]:
    json_path = out_dir / f"{scenario.key}-{label}.json"
    argv = [sys.executable, "-m", "bench.gateway.loadgen", "--port", str(target.port),
            "--target-pid", str(target.pid), "--label", f"{scenario.key}/{label}",
            "--processes", str(args.processes), "--json", str(json_path), "--quiet",
            *scenario.loadgen_args(args.scale)]
    print(f"$ {' '.join(argv[1:])}", flush=True)
    profiler = _py_spy(target, out_dir / f"{scenario.key}-{label}.pyspy.txt", args.profile_gil) \
        if label in args.profile.split(",") else None
    with TreeRssSampler(target.pid) as sampler:
        try:
            subprocess.run(argv, check=True, timeout=args.timeout, cwd=REPO)
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                profiler.wait(timeout=30)
    figures: dict[str, Any] = json.loads(json_path.read_text())
    figures["tree_rss_peak_bytes"] = sampler.peak()
    return figures


def _py_spy(target: targets.RunningTarget, path: pathlib.Path,
            gil: bool) -> subprocess.Popen[bytes]:
    """py-spy on the target and its children (`pip install py-spy`), raw folded stacks."""
    spy = pathlib.Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(spy), "record", "--pid", str(target.pid), "--subprocesses",
                             "--threads", "--nonblocking", *(["--gil"] if gil else []),
                             "--format", "raw", "--rate", "50", "-o", str(path)],
                            stdout=subprocess.DEVNULL,
                            stderr=open(path.with_suffix(".err"), "wb"))


def row(scenario: Scenario, label: str, figures: dict[str, Any]) -> str:
    steady, calls = figures["latency_ms"]["steady"], figures["calls"]
    stations = figures["stations"]
    # a call with no CallResult (timeout, CallError, dropped), and a station that never got in
    failed = calls["sent"] - calls["answered"] + stations["failed_handshakes"]
    rss = figures["tree_rss_peak_bytes"] / MIB
    target = figures.get("target") or {}
    verdict = []
    if scenario.rate is not None:
        ok = steady["p99"] is not None and steady["p99"] <= P99_LIMIT_MS and failed == 0
        verdict.append(f"p99 ≤ {P99_LIMIT_MS:g} ms, 0 failed: {'PASS' if ok else 'MISS'}")
    else:
        held = stations["held_at_end"] == stations["requested"]
        verdict.append(f"RSS ≤ {RSS_LIMIT_MIB:g} MiB, all held: "
                       f"{'PASS' if rss <= RSS_LIMIT_MIB and held else 'MISS'}")

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}"

    cpu, rate = target.get("cpu_percent_steady"), calls["achieved_rate"]
    cpu_per_call = cpu * 10 / rate if cpu is not None and rate else None

    return (f"| {scenario.key} | {label} | {stations['held_at_end']}/{stations['requested']} | "
            f"{calls['achieved_rate'] or 0:.0f}/s | {ms(steady['p50'])} | {ms(steady['p99'])} | "
            f"{ms(steady['max'])} | {failed} | {rss:.0f} | "
            f"{ms(cpu)} | {ms(cpu_per_call)} | {'; '.join(verdict)} |")


HEADER = ("| scenario | target | stations held | calls/s | p50 ms | p99 ms | max ms | "
          "failed (calls + handshakes) | "
          "peak RSS MiB (tree) | CPU % steady | CPU ms per call | verdict |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="the embedded platform under load (issue 19)")
    parser.add_argument("--scenarios", default="idle,load", help="comma-separated: idle, load")
    parser.add_argument("--targets", default="embedded,services",
                        help="embedded (python -m csms_embedded), services (the gateway alone "
                             "on RabbitMQ)")
    parser.add_argument("--smoke", action="store_true", help="10 %% size, 8 s steady phases")
    parser.add_argument("--scale", type=float, help="station counts, rates and connect windows "
                        "times this (0.1 with --smoke)")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--amqp-url", default=os.environ.get(
        "BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"))
    parser.add_argument("--embedded-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the embedded platform (experiments)")
    parser.add_argument("--profile", default="", metavar="TARGETS",
                        help="py-spy the named targets (embedded, services) during each run")
    parser.add_argument("--profile-gil", action="store_true",
                        help="py-spy samples only the thread holding the GIL (who keeps the "
                             "gateway's loop waiting)")
    parser.add_argument("--timeout", type=float, default=400.0, help="per load generator run")
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args(argv)
    args.scale = args.scale or (0.1 if args.smoke else 1.0)
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    unknown |= set(args.targets.split(",")) - {"embedded", "services"}
    if unknown:
        parser.error(f"unknown scenario(s) or target(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out or REPO / "bench" / "results" / time.strftime(
        "%Y%m%dT%H%M%SZ-embedded", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    extra_env = dict(item.split("=", 1) for item in args.embedded_env)
    lines = machine_lines(sys.argv[1:] if argv is None else argv)
    print("\n".join(lines), flush=True)
    rows, results = [], []
    for key in args.scenarios.split(","):
        scenario = SCENARIOS[key]
        for label in args.targets.split(","):
            start = (embedded(out, extra_env) if label == "embedded"
                     else services_gateway(out, args.amqp_url))
            with start as target:
                figures = run_loadgen(scenario, target, args, out, label)
            os.replace(target.log_path, out / f"{key}-{label}.log")
            rows.append(row(scenario, label, figures))
            results.append(figures)
            print(rows[-1], flush=True)
    report = "\n".join([*lines, "", HEADER, *rows])
    print("\n" + report)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "report.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
