"""Run a Python module as `python -m` would, logging its garbage-collection pauses at exit.

    python -m bench.gateway.gc_wrapper [--freeze-every SECONDS] -m ocpp_events serve

Used by `run.py --gateway-gc` to see whether the gateway's latency spikes are collector pauses,
without touching the gateway: its `__main__` runs unchanged in this process. With
`--freeze-every`, a background thread calls `gc.freeze()` periodically (an experiment that
shows what freezing long-lived connection objects would buy).
"""

from __future__ import annotations

import atexit
import gc
import runpy
import sys
import threading
import time


class GcPauses:
    """Records how long each garbage collection took (to explain latency spikes); also used by
    baseline_server.py."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self._started) * 1000)

    def summary(self) -> str:
        return "; ".join(
            f"gen{generation}: {len(values)} collections, max {max(values, default=0):.1f} ms, "
            f"total {sum(values):.0f} ms" for generation, values in self.pauses.items())

    def report(self) -> None:
        print(f"garbage collection pauses: {self.summary()}", file=sys.stderr, flush=True)


def freeze_periodically(every: float) -> None:
    while True:
        time.sleep(every)
        gc.freeze()


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--stats-only"]:
        args = args[1:]
    elif args[:1] == ["--freeze-every"]:
        every, args = float(args[1]), args[2:]
        threading.Thread(target=freeze_periodically, args=(every,), daemon=True).start()
    if args[:1] != ["-m"] or len(args) < 2:
        raise SystemExit("usage: python -m bench.gateway.gc_wrapper "
                         "[--stats-only | --freeze-every SECONDS] -m MODULE [ARGS...]")
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    atexit.register(pauses.report)
    sys.argv = [args[1], *args[2:]]
    runpy.run_module(args[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
