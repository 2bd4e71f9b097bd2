"""CPU over a span: the machine's busy % (all cores, /proc/stat) and the broker's own CPU %
(RabbitMQ's `beam.smp`, 100 = one core), to show who used the two cores during a run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def _system() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values[:8]) - values[3] - values[4], sum(values[:8])


def _broker_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "beam.smp":
                    return int(entry.name)
            except OSError:
                continue
    return None


def _process_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


class CpuSpan:
    """`with CpuSpan() as span: ...` then `span.figures()`."""

    def __enter__(self) -> CpuSpan:
        self._pid = _broker_pid()
        self._system0, self._broker0 = _system(), _process_seconds(self._pid)
        self._wall0 = os.times().elapsed
        return self

    def __exit__(self, *_: object) -> None:
        busy1, total1 = _system()
        self.busy_pct = 100 * (busy1 - self._system0[0]) / max(1, total1 - self._system0[1])
        wall = max(1e-9, os.times().elapsed - self._wall0)
        self.broker_pct = 100 * (_process_seconds(self._pid) - self._broker0) / wall

    def figures(self) -> dict[str, Any]:
        return {"machine_busy_pct": round(self.busy_pct), "broker_cpu_pct": round(self.broker_pct)}
