"""Stopping the service processes a benchmark started."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence


def stop_processes(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 20,
                   signum: int = signal.SIGTERM) -> None:
    """`signum` to all at once (they stop in parallel), then kill any still running after
    `timeout` seconds."""
    for process in processes:
        process.send_signal(signum)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
