"""The embedded platform's log file: same lines as stderr, rotated by size by the process
(RotatingFileHandler) or, with CSMS_LOG_MAX_BYTES=0, reopened after logrotate moved it
(WatchedFileHandler); settings that cannot work are refused before the start."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from csms_embedded.logfile import LogFile, LogFileError, add_log_file, copy_line
from ocpp_events.infrastructure.logs import configure_logging


@pytest.fixture(autouse=True)
def json_logging() -> Iterator[None]:
    """JSON lines as in production; the root handlers and structlog put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("json", "INFO")
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lines_go_to_the_file_as_json_and_the_file_rotates_by_size(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "csms.log"
    add_log_file(LogFile(log_file, max_bytes=2_000, backups=2))
    log = structlog.get_logger("test.logfile")
    for n in range(100):
        log.info("charge stopped", n=n, charging_station_id="CP-1")
    logging.getLogger("test.library").info("GET /health 200")  # a library's line too
    assert sorted(p.name for p in log_file.parent.iterdir()) == [
        "csms.log", "csms.log.1", "csms.log.2"]
    assert all(p.stat().st_size <= 2_000 for p in log_file.parent.iterdir())
    newest = lines(log_file)
    assert newest[-1]["logger"] == "test.library"
    assert newest[-2]["event"] == "charge stopped" and newest[-2]["n"] == 99
    older = lines(log_file.parent / "csms.log.1")
    assert older[-1]["n"] < newest[0]["n"]


def test_a_consumer_process_line_goes_to_the_file_as_written_and_counts_for_rotation(
        tmp_path: Path) -> None:
    log_file = tmp_path / "csms.log"
    add_log_file(LogFile(log_file, max_bytes=2_000, backups=1))
    written = json.dumps({"event": "event_store.worker_started", "logger": "child"})
    for _ in range(40):
        copy_line(written)
    structlog.get_logger("test.logfile").info("from the launcher")
    assert lines(log_file)[-2] == json.loads(written)  # not wrapped in another JSON line
    assert lines(log_file)[-1]["event"] == "from the launcher"
    assert (tmp_path / "csms.log.1").exists()


def test_with_max_bytes_0_the_file_is_reopened_after_logrotate_moves_it(tmp_path: Path) -> None:
    log_file = tmp_path / "csms.log"
    add_log_file(LogFile.parse(str(log_file), "0", None))
    log = structlog.get_logger("test.logfile")
    log.info("before rotation")
    log_file.rename(tmp_path / "csms.log.1")  # what logrotate does (without copytruncate)
    log.info("after rotation")
    assert [line["event"] for line in lines(tmp_path / "csms.log.1")] == ["before rotation"]
    assert [line["event"] for line in lines(log_file)] == ["after rotation"]


def test_defaults_keep_five_files_of_10_mib() -> None:
    assert LogFile.parse("/var/log/csms/csms.log", None, "") == LogFile(
        Path("/var/log/csms/csms.log"), 10 * 1024 * 1024, 5)


@pytest.mark.parametrize(("max_bytes", "backups", "message"), [
    ("ten", None, "whole numbers"),
    (None, "-1", "cannot be negative"),
    ("1000", "0", "keep at least 1"),
])
def test_settings_that_cannot_work_are_refused(max_bytes, backups, message) -> None:
    with pytest.raises(LogFileError, match=message):
        LogFile.parse("csms.log", max_bytes, backups)


def test_the_launcher_refuses_a_bad_log_setting_before_starting(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path / "data"),
           "CSMS_LOG_FILE": str(tmp_path / "csms.log"), "CSMS_LOG_MAX_BYTES": "10MB"}
    done = subprocess.run([sys.executable, "-m", "csms_embedded"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "CSMS_LOG_MAX_BYTES and CSMS_LOG_BACKUPS are whole numbers" in done.stderr
    assert not (tmp_path / "data").exists()
