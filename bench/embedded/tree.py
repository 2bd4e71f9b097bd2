"""RSS of a process and all its descendants, sampled from /proc (Linux only)."""

from __future__ import annotations

import os
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (through /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [int(child) for child in children.read().split()]
            except OSError:
                continue
    return found


def tree_rss(pid: int) -> int:
    total = 0
    for member in descendants(pid):
        try:
            with open(f"/proc/{member}/statm") as statm:
                total += int(statm.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


class TreeRssSampler:
    """Samples the tree's RSS every `interval` seconds in a thread; `peak` and `at` read it."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid, self._interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-rss", daemon=True)

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), tree_rss(self.pid)))
            self._stop.wait(self._interval)

    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    def at(self, moment: float) -> int | None:
        """The last sample at or before `moment`."""
        before = [rss for at, rss in self.samples if at <= moment]
        return before[-1] if before else None
