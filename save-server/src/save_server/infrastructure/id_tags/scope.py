"""`TagScope.sees` (domain/id_tags/visibility.py) as a condition of the id tag query, so a
scoped account's page of tags is one query. `site_ids`/`station_ids` are JSON arrays, or JSON
null (SQL NULL too, read alike) for "everywhere"; each list the scope brings is one JSON or
array parameter, however long (no limit on bound variables)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from save_server.domain.id_tags import TagScope
from save_server.infrastructure.id_tags.tables import id_tags


def seen_by(scope: TagScope, dialect: str) -> ColumnElement[bool]:
    t = id_tags.c
    everywhere = and_(_json_null(t.site_ids, dialect), _json_null(t.station_ids, dialect))
    return or_(and_(everywhere, _among(t.token_key, scope.charged_here, dialect)),
               _names_one_of(t.site_ids, scope.sites, dialect),
               _names_one_of(t.station_ids, scope.stations, dialect))


def _json_null(column: Any, dialect: str) -> ColumnElement[bool]:
    kind = func.json_typeof(column) if dialect == "postgresql" else func.json_type(column)
    return or_(column.is_(None), kind == "null")


def _among(column: Any, values: Collection[str], dialect: str) -> ColumnElement[bool]:
    if not values:
        return false()
    if dialect == "postgresql":
        return column == any_(bindparam(None, sorted(values), type_=ARRAY(Text)))
    return column.in_(select(_json_each(json.dumps(sorted(values))).c.value))


def _names_one_of(column: Any, ids: Collection[str], dialect: str) -> ColumnElement[bool]:
    """The JSON array in `column` holds one of `ids` (JSON null or SQL NULL: no)."""
    if not ids:
        return false()
    if dialect == "postgresql":  # jsonb ?| : any of these strings is an element
        return cast(column, JSONB).op("?|")(bindparam(None, sorted(ids), type_=ARRAY(Text)))
    elements = func.json_each(column).table_valued("value")
    wanted = _json_each(json.dumps(sorted(ids)))
    return exists(select(elements.c.value).where(
        elements.c.value.in_(select(wanted.c.value))))


def _json_each(document: str) -> Any:
    return func.json_each(bindparam(None, document, type_=Text)).table_valued("value")
