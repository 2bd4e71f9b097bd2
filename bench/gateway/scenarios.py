"""The three gateway benchmarks of issue 3 and their pass/miss rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KIB = 1024
RSS_PER_IDLE_STATION_LIMIT = 32 * KIB
P99_LIMIT_MS = 25.0
P99_BASELINE_FACTOR = 1.5
ACHIEVED_RATE_SHARE = 0.98

Figures = dict[str, Any]
Verdict = tuple[str, bool | None, str]  # (target, passed, measured)


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    stations: int
    ramp: float
    settle: float
    duration: float
    rate: float | None = None  # aggregate calls/s
    interval: float | None = None  # seconds between a station's calls
    arrival: str = "even"
    max_duration: float | None = None  # a --duration override never exceeds this
    judge: Callable[[Figures, Figures | None], list[Verdict]] | None = None

    def loadgen_args(self, scale: float, duration: float | None) -> list[str]:
        stations = max(1, round(self.stations * scale))
        steady = self.duration if duration is None else duration
        if self.max_duration is not None:
            steady = min(steady, self.max_duration)
        args = ["--stations", str(stations), "--ramp", f"{max(1.0, self.ramp * scale):g}",
                "--settle", f"{max(1.0, self.settle * min(1.0, scale * 4)):g}",
                "--duration", f"{steady:g}",
                "--arrival", self.arrival]
        if self.rate is not None:
            args += ["--rate", f"{self.rate * scale:g}"]
        if self.interval is not None:
            args += ["--interval", f"{self.interval:g}"]
        return args


def _no_errors(figures: Figures) -> Verdict:
    errors = figures["errors"]
    return ("no call errors, timeouts or drops", not errors and not figures["aborted"],
            str(errors or "none"))


def judge_idle(gateway: Figures, baseline: Figures | None) -> list[Verdict]:
    stations, target = gateway["stations"], gateway["target"] or {}
    growth = target.get("rss_growth_per_idle_station_bytes")
    requested = stations["requested"]
    return [
        (f"{requested} stations held", stations["held_idle_before_steady"] == requested
         and stations["held_at_end"] == requested,
         f"{stations['held_idle_before_steady']} idle, {stations['held_at_end']} at end"),
        ("RSS growth per idle station <= 32 KiB",
         None if growth is None else growth <= RSS_PER_IDLE_STATION_LIMIT,
         "n/a" if growth is None else f"{growth / KIB:.1f} KiB"),
        _no_errors(gateway),
    ]


def judge_sustained(gateway: Figures, baseline: Figures | None) -> list[Verdict]:
    calls, p99 = gateway["calls"], gateway["latency_ms"]["steady"]["p99"]
    base_p99 = baseline["latency_ms"]["steady"]["p99"] if baseline else None
    achieved = calls["achieved_rate"] or 0.0
    return [
        (f"{calls['target_rate']:g} calls/s sustained",
         achieved >= ACHIEVED_RATE_SHARE * calls["target_rate"], f"{achieved:.1f}/s"),
        ("round trip p99 <= 25 ms", None if p99 is None else p99 <= P99_LIMIT_MS,
         "n/a" if p99 is None else f"{p99:.2f} ms"),
        ("p99 <= 1.5 x baseline p99",
         None if p99 is None or base_p99 is None else p99 <= P99_BASELINE_FACTOR * base_p99,
         "n/a" if p99 is None or not base_p99 else f"{p99 / base_p99:.2f} x ({base_p99:.2f} ms)"),
        _no_errors(gateway),
    ]


def judge_storm(gateway: Figures, baseline: Figures | None) -> list[Verdict]:
    stations = gateway["stations"]
    requested = stations["requested"]
    return [
        ("zero failed handshakes", stations["failed_handshakes"] == 0,
         f"{stations['failed_handshakes']} {stations['failed_handshakes_by_kind'] or ''}"),
        (f"{requested} stations held", stations["held_at_end"] == requested,
         f"{stations['held_at_end']}"),
        _no_errors(gateway),
    ]


SCENARIOS: dict[str, Scenario] = {
    "idle": Scenario("idle", "(a) 10,000 stations at 1 call/station/min, RSS per idle station",
                     stations=10_000, ramp=50, settle=5, duration=60, interval=60,
                     judge=judge_idle),
    "sustained": Scenario("sustained", "(b) 1,000 calls/s sustained (200 stations x 5 calls/s)",
                          stations=200, ramp=5, settle=2, duration=60, rate=1000,
                          judge=judge_sustained),
    "storm": Scenario("storm", "(c) reconnect storm: 5,000 stations within 60 s",
                      stations=5_000, ramp=60, settle=2, duration=5, interval=60,
                      arrival="random", max_duration=5, judge=judge_storm),
}
