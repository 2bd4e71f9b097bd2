"""`make run` when one of its ports is taken (another copy running, another app)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import free_port

PORTS = ("GATEWAY_PORT", "GATEWAY_HTTP_PORT", "SAVE_SERVER_PORT", "EVENT_STORE_PORT")


@pytest.mark.parametrize("taken", PORTS)
def test_a_taken_port_stops_the_launcher_with_one_clear_error(taken: str,
                                                              tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        ports = {name: str(free_port()) for name in PORTS}
        ports[taken] = str(holder.getsockname()[1])
        done = subprocess.run(
            [sys.executable, "-m", "csms_embedded"], capture_output=True, text=True,
            timeout=120, env={**os.environ, **ports, "DATA_DIR": str(tmp_path / "data"),
                              "CSMS_EMBEDDED_CONSUMER_PROCESSES": "0"})
    assert done.returncode == 1
    assert "error: " in done.stderr and "already in use" in done.stderr.lower()
    assert "is SAVE CSMS already running?" in done.stderr
    assert "Traceback" not in done.stderr
    assert "SAVE CSMS is running" not in done.stdout
