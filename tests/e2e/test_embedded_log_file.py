"""`make run` in production writes its log lines to a rotated file (CSMS_LOG_FILE): the same
JSON lines as on stderr, from every service of the process, rotated by size while it runs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.e2e.charger import Charger
from tests.e2e.platform import base_env, embedded_platform, stop_with_sigterm

pytestmark = pytest.mark.e2e


async def test_the_embedded_platform_writes_rotated_json_log_files(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "csms.log"
    env = {**base_env(tmp_path), "LOG_FORMAT": "json", "CSMS_LOG_FILE": str(log_file),
           "CSMS_LOG_MAX_BYTES": "4000", "CSMS_LOG_BACKUPS": "2"}
    with embedded_platform(tmp_path, env) as platform:
        for _ in range(40):  # each connection logs "station connected"
            async with Charger(platform.station_url(f"CP-log-{uuid.uuid4().hex[:6]}")) as cp:
                await cp.call("Heartbeat", {})
        assert stop_with_sigterm(platform) == [0]
    files = sorted(p.name for p in log_file.parent.iterdir())
    assert files == ["csms.log", "csms.log.1", "csms.log.2"]
    written = [json.loads(line) for name in files
               for line in (log_file.parent / name).read_text().splitlines()]
    loggers = {line.get("logger", "") for line in written}
    assert {"event_store.bootstrap", "save_server"} <= loggers  # every service's lines
    assert any(line["event"] == "station connected" for line in written)  # the gateway's
    assert all(p.stat().st_size <= 4000 for p in log_file.parent.iterdir())
    stderr = (tmp_path / "csms_embedded.log").read_text()
    assert written[-1]["event"] in stderr  # the same lines as on stderr
