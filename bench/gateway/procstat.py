"""CPU and RSS of a process, read from /proc (Linux only, no extra dependency).

A `ProcessSampler` thread samples a pid at a fixed interval; the load generator asks it for the
RSS at a moment and the CPU share over a window afterwards.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    at: float  # wall clock, time.time()
    cpu_seconds: float  # user + system CPU time of the process
    rss_bytes: int


def read_sample(pid: int) -> Sample | None:
    """One sample of `pid`, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            stat = stat_file.read()
        with open(f"/proc/{pid}/statm") as statm_file:
            resident_pages = int(statm_file.read().split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may contain spaces; fields after the closing parenthesis are
    # fixed: utime and stime are fields 14 and 15 of the whole line.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return Sample(time.time(), (utime + stime) / CLOCK_TICKS, resident_pages * os.sysconf(
        "SC_PAGE_SIZE"))


def read_system_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from the first line of /proc/stat."""
    with open("/proc/stat") as stat_file:
        values = [int(v) for v in stat_file.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return float(total - idle), float(total)


def busy_percent_since(before: tuple[float, float]) -> float:
    """Machine busy % (all cores) since the `read_system_busy()` sample `before`."""
    busy, total = read_system_busy()
    return 100.0 * (busy - before[0]) / max(1.0, total - before[1])


def machine_busy_percent(seconds: float = 3.0) -> float:
    """Machine busy % over the next `seconds`."""
    before = read_system_busy()
    time.sleep(seconds)
    return busy_percent_since(before)


def wait_for_quiet(below: float, timeout: float, first_sample: float = 3.0) -> float:
    """Machine busy % now; with `below` > 0, wait (at most `timeout` s) until it is lower."""
    deadline = time.monotonic() + timeout
    busy = machine_busy_percent(first_sample)
    while below and busy > below and time.monotonic() < deadline:
        print(f".. machine {busy:.0f} % busy, waiting for < {below:g} %", flush=True)
        busy = machine_busy_percent(5.0)
    return busy


class ProcessSampler(threading.Thread):
    """Samples one process (and the machine's overall CPU) every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        super().__init__(name=f"sampler-{pid}", daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[Sample] = []
        self.system: list[tuple[float, float, float]] = []  # (at, busy, total)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            sample = read_sample(self.pid)
            if sample is not None:
                self.samples.append(sample)
            busy, total = read_system_busy()
            self.system.append((time.time(), busy, total))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def _at_or_before(self, at: float) -> Sample | None:
        index = bisect.bisect_right([s.at for s in self.samples], at)
        return self.samples[index - 1] if index else None

    def _at_or_after(self, at: float) -> Sample | None:
        index = bisect.bisect_left([s.at for s in self.samples], at)
        return self.samples[index] if index < len(self.samples) else None

    def rss_at(self, at: float) -> int | None:
        """RSS of the last sample taken at or before `at`."""
        sample = self._at_or_before(at)
        return sample.rss_bytes if sample else None

    def rss_peak(self) -> int | None:
        return max((s.rss_bytes for s in self.samples), default=None)

    def cpu_percent(self, start: float, end: float) -> float | None:
        """Mean CPU of the process between two moments, 100 = one core fully busy."""
        first, last = self._at_or_after(start), self._at_or_before(end)
        if first is None or last is None or last.at - first.at <= 0:
            return None
        return 100.0 * (last.cpu_seconds - first.cpu_seconds) / (last.at - first.at)

    def system_busy_percent(self, start: float, end: float) -> float | None:
        """Mean busy share of the whole machine (all cores) between two moments."""
        window = [s for s in self.system if start <= s[0] <= end]
        if len(window) < 2 or window[-1][2] - window[0][2] <= 0:
            return None
        return 100.0 * (window[-1][1] - window[0][1]) / (window[-1][2] - window[0][2])
