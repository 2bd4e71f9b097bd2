"""The embedded platform's log file (`CSMS_LOG_FILE`), beside the lines on stderr.

One process writes the file, so the standard library's `RotatingFileHandler` rotates it by size
itself (`CSMS_LOG_MAX_BYTES`, `CSMS_LOG_BACKUPS` old files kept: `csms.log.1` … `.N`), with no
logrotate to install. `CSMS_LOG_MAX_BYTES=0` hands rotation to logrotate instead: a
`WatchedFileHandler` reopens the file when logrotate has moved it away (no `copytruncate`
needed). The lines are those of stderr: the formatter of the root handler the services set up
(JSON with `LOG_FORMAT=json`).
"""

from __future__ import annotations

import logging
import logging.handlers
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5


class LogFileError(ValueError):
    """A log file setting that cannot work (reported before the platform starts)."""


@dataclass(frozen=True)
class LogFile:
    path: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    backups: int = DEFAULT_BACKUPS

    @classmethod
    def parse(cls, path: str, max_bytes: str | None, backups: str | None) -> LogFile:
        try:
            size = int(max_bytes) if max_bytes not in (None, "") else DEFAULT_MAX_BYTES
            kept = int(backups) if backups not in (None, "") else DEFAULT_BACKUPS
        except ValueError as error:
            raise LogFileError(f"CSMS_LOG_MAX_BYTES and CSMS_LOG_BACKUPS are whole numbers: "
                               f"{error}") from error
        if size < 0 or kept < 0:
            raise LogFileError("CSMS_LOG_MAX_BYTES and CSMS_LOG_BACKUPS cannot be negative")
        if size and not kept:
            raise LogFileError("CSMS_LOG_BACKUPS=0 with a size limit would empty the file at "
                               "each rotation; keep at least 1, or CSMS_LOG_MAX_BYTES=0")
        return cls(Path(path), size, kept)

    def handler(self) -> logging.Handler:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.max_bytes == 0:
            return logging.handlers.WatchedFileHandler(self.path, encoding="utf-8")
        return logging.handlers.RotatingFileHandler(
            self.path, maxBytes=self.max_bytes, backupCount=self.backups, encoding="utf-8")


class _Lines(logging.Formatter):
    """The stderr handler's formatter, except for the lines a consumer process formatted."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        line = getattr(record, "formatted_line", None)
        if line is not None:
            return line
        return self._inner.format(record) if self._inner else super().format(record)


def add_log_file(log_file: LogFile) -> logging.Handler:
    """Also write every log line to the file, formatted as the lines already on stderr."""
    root = logging.getLogger()
    handler = log_file.handler()
    handler.setFormatter(_Lines(root.handlers[0].formatter if root.handlers else None))
    root.addHandler(handler)
    return handler


def copy_line(line: str) -> None:
    """A line a consumer process wrote to its stderr (csms_embedded.consumers): into the log
    file too, through the same handler, so the file is still rotated by one process."""
    record = logging.makeLogRecord({"msg": line, "formatted_line": line})
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, _Lines):
            handler.handle(record)
