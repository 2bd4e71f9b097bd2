"""What every benchmark report starts with: the command, the machine, the date; plus the
small statistics and /proc helpers the scenarios share."""

from __future__ import annotations

import math
import os
import platform
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


def machine_lines(argv: list[str]) -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return [
        f"command: {shlex.join([Path(sys.executable).name, *argv])}",
        f"date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"code: commit {git_commit()}",
        f"machine: nproc={os.cpu_count()}, CPU {cpu}, memory {mem_kib / 1024 / 1024:.1f} GiB,"
        f" Python {platform.python_version()}, {platform.system()} {platform.release()}",
        load_line("at start"),
    ]


def git_commit() -> str:
    """The checkout's commit, `+dirty` when the working tree differs (the services under test
    are installed editable, so this is the code that ran)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                                capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{'+dirty' if dirty else ''}"


def load_line(when: str) -> str:
    """The machine is shared (PostgreSQL, RabbitMQ, other work): show how busy it was."""
    one, five, fifteen = os.getloadavg()
    return f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms) if ms else math.nan}


def verdict(value: float, limit: float, higher_is_better: bool = False) -> str:
    if math.isnan(value):
        return "MISS (no data)"
    ok = value >= limit if higher_is_better else value <= limit
    return "PASS" if ok else "MISS"


def proc_status_kib(pid: int, key: str) -> int:
    """A `Vm*` line of /proc/<pid>/status in KiB (e.g. VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


@dataclass
class RssSampler:
    """Samples VmRSS of a process every `interval` seconds in a thread."""

    pid: int
    interval: float = 0.02
    samples_kib: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples_kib.append(proc_status_kib(self.pid, "VmRSS"))
            except (OSError, KeyError):
                return
            time.sleep(self.interval)
