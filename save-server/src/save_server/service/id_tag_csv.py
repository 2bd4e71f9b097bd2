"""CSV import and export of id tags. An import is all or nothing: every row is checked first,
and any error (reported with its line number) leaves every tag as it was. It is an idempotent
upsert by token: a row replaces the tag with the same token (compared case-insensitively),
a column missing from the header keeps the tag's value (or the default for a new tag), an
empty cell clears the value, and a row equal to the stored tag changes nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from save_server.domain.id_tags import IdTag, InvalidIdTag, TagStatus, token_key
from save_server.service.id_tags import IdTagService

FIELDS = ("id_tag", "token_type", "group_id", "holder", "status", "expires_at", "site_ids",
          "station_ids", "max_concurrent_charges", "monthly_budget_kwh", "evse_types")
LIST_SEPARATOR = ";"  # inside site_ids / station_ids cells (never part of an id)
MAX_ERRORS = 100


@dataclass(frozen=True)
class RowError:
    line: int
    field: str | None
    message: str


class ImportRefused(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} error(s); nothing was imported")
        self.errors = errors


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def _text(value: str) -> str | None:
    return value.strip() or None


def _list(value: str) -> tuple[str, ...] | None:
    items = [item.strip() for item in value.split(LIST_SEPARATOR) if item.strip()]
    return tuple(items) if items else None


def _date(value: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise InvalidIdTag("expires_at", f"not an RFC 3339 date-time: {value!r}") from error
    if parsed.tzinfo is None:
        raise InvalidIdTag("expires_at", f"needs a time zone offset: {value!r}")
    return parsed


def _int(value: str, field: str) -> int:
    try:
        return int(value.strip())
    except ValueError as error:
        raise InvalidIdTag(field, f"not a whole number: {value!r}") from error


def _float(value: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value.strip())
    except ValueError as error:
        raise InvalidIdTag("monthly_budget_kwh", f"not a number: {value!r}") from error


def _status(value: str) -> TagStatus:
    try:
        return TagStatus(value.strip().lower() or "active")
    except ValueError as error:
        raise InvalidIdTag("status", f"status is active or blocked, not {value!r}") from error


PARSERS: dict[str, Any] = {
    "token_type": _text, "group_id": _text, "holder": _text, "status": _status,
    "expires_at": _date, "site_ids": _list, "station_ids": _list,
    "max_concurrent_charges": lambda v: _int(v, "max_concurrent_charges") if v.strip() else 1,
    "monthly_budget_kwh": _float, "evse_types": _list,
}


def import_csv(service: IdTagService, text: str, by: str) -> ImportResult:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        return _import(service, reader, by)
    except csv.Error as error:  # e.g. a lone carriage return inside an unquoted field
        raise ImportRefused([RowError(reader.line_num or 1, None, f"not CSV: {error}")]) \
            from error


def _import(service: IdTagService, reader: Any, by: str) -> ImportResult:
    header = [name.strip() for name in next(reader, [])]
    errors = _header_errors(header)
    if errors:
        raise ImportRefused(errors)
    places = service.places()
    stored = {t.key: t for t in service.all_tags()}
    seen: dict[str, int] = {}
    tags: list[tuple[IdTag, IdTag | None]] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        try:
            tag, current = _row(stored, header, row, line, seen)
            tags.append((service.check(tag, places), current))
        except InvalidIdTag as error:
            errors.append(RowError(line, error.field_name, str(error)))
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise ImportRefused(errors)
    changed = [(t, c) for t, c in tags if c is None or _differs(t, c)]
    service.save([t for t, _ in changed], by,
                 ["tag-created" if c is None else "tag-updated" for _, c in changed])
    created = sum(c is None for _, c in changed)
    return ImportResult(created, len(changed) - created, len(tags) - len(changed))


def _header_errors(header: list[str]) -> list[RowError]:
    if "id_tag" not in header:
        return [RowError(1, None, f"the header must name id_tag (columns: {', '.join(FIELDS)})")]
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        return [RowError(1, None, f"unknown column(s): {', '.join(unknown)}")]
    twice = sorted({name for name in header if header.count(name) > 1})
    return [RowError(1, None, f"column(s) named twice: {', '.join(twice)}")] if twice else []


def _row(stored: dict[str, IdTag], header: list[str], row: list[str], line: int,
         seen: dict[str, int]) -> tuple[IdTag, IdTag | None]:
    if len(row) != len(header):
        raise InvalidIdTag("row", f"{len(row)} cells; the header has {len(header)}")
    cells = dict(zip(header, row, strict=True))
    token = cells["id_tag"].strip()
    if not token:
        raise InvalidIdTag("id_tag", "id_tag is empty")
    if token_key(token) in seen:
        raise InvalidIdTag("id_tag", f"duplicate token {token}: already on line "
                                     f"{seen[token_key(token)]}")
    seen[token_key(token)] = line
    current = stored.get(token_key(token))
    base = current.changed(id_tag=token) if current is not None else IdTag(token)
    values = {name: PARSERS[name](cells[name]) for name in header if name != "id_tag"}
    return base.changed(**values), current


def _differs(new: IdTag, current: IdTag) -> bool:
    return new.changed(revision=0, budget_exhausted=False) != current.changed(
        revision=0, budget_exhausted=False) or new.id_tag != current.id_tag


def export_csv(tags: Iterable[IdTag]) -> Iterator[str]:
    """The tags as CSV, in the import's own format (an export imports back unchanged)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for tag in tags:
        document = tag.document()
        writer.writerow([_cell(document[name]) for name in FIELDS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(value)
    return value
