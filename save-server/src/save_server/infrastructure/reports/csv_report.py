"""The charge report as CSV: RFC 4180 (CRLF, quoting as needed), UTF-8, a header row, times in
ISO 8601 with the offset of the report's time zone. Streamed: rows are written as they come.
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from typing import IO

from save_server.domain.reports import Attachment, ReportLine, ReportSummary
from save_server.domain.rules import ChargeStatus

COLUMNS = ("charge_id", "station_id", "station_name", "connector_id", "id_tag", "started_at",
           "ended_at", "energy_wh", "energy_kwh", "duration_seconds", "duration", "status",
           "stop_reason")
CHUNK_ROWS = 500
SPOOL_BYTES = 8 * 1024 * 1024


def _number(value: float | None, decimals: int = 3) -> str:
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def _time(at: datetime | None, zone: tzinfo) -> str:
    return at.astimezone(zone).isoformat() if at is not None else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    sign, whole = ("-", -whole) if whole < 0 else ("", whole)
    return f"{sign}{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def csv_row(line: ReportLine, zone: tzinfo) -> list[str]:
    charge = line.charge
    energy = charge.energy_wh
    return [
        str(charge.id or ""), charge.station_id, line.station_name or "",
        "" if charge.connector_id is None else str(charge.connector_id), charge.id_tag or "",
        _time(charge.started_at, zone), _time(charge.ended_at, zone), _number(energy),
        "" if energy is None else f"{energy / 1000:.3f}", _number(charge.duration_seconds),
        _duration(charge.duration_seconds), charge.status.value, charge.stop_reason or "",
    ]


def csv_chunks(lines: Iterable[ReportLine], zone: tzinfo,
               summary: ReportSummary | None = None) -> Iterator[bytes]:
    """The CSV in chunks of encoded bytes; `summary`, when given, counts each row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for i, line in enumerate(lines, 1):
        writer.writerow(csv_row(line, zone))
        if summary is not None:
            summary.add(line, line.charge.status is ChargeStatus.ERROR)
        if i % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def csv_attachment(lines: Iterable[ReportLine], zone: tzinfo, filename: str,
                   compress_over_bytes: int) -> tuple[Attachment, ReportSummary]:
    """The CSV as an attachment, gzip-compressed when larger than `compress_over_bytes`.

    The plain CSV is spooled (to disk once large), so memory holds at most the compressed
    file — what the e-mail carries anyway.
    """
    summary = ReportSummary()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        for chunk in csv_chunks(lines, zone, summary):
            spool.write(chunk)
        size = spool.tell()
        spool.seek(0)
        if size <= compress_over_bytes:
            return Attachment(filename, "text/csv", spool.read()), summary
        return Attachment(f"{filename}.gz", "application/gzip", _gzip(spool)), summary


def _gzip(source: IO[bytes]) -> bytes:
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=6, mtime=0) as target:
        shutil.copyfileobj(source, target, 1024 * 1024)
    return packed.getvalue()
