"""The AuthorizationListSource port on the id tag registry's tables (infrastructure/id_tags):
a tag is allowed at a station when it names neither sites nor stations, names the station, or
names the station's site (the gateway's rule, ocpp_events.domain.authorization). A blocked
tag, and one whose monthly budget is used up (the gateway answers `Blocked` then too), goes
as `Blocked`. "Last used" is the latest charge started with the tag (any station), read for
all tags at once and kept LAST_USED_SECONDS: the order only matters when a list does not fit."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from save_server.domain.local_lists import AuthorizationEntry, AuthorizationListSource
from save_server.infrastructure.db.tables import charges
from save_server.infrastructure.id_tags.tables import id_tag_revision, id_tags
from save_server.infrastructure.registry.tables import station_registrations

LAST_USED_SECONDS = 60.0
DEFAULT_TOKEN_TYPE = "ISO14443"  # a tag registered without one (1.6 only): an RFID card


class SqlAuthorizationListSource(AuthorizationListSource):
    def __init__(self, engine: Engine,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._monotonic = monotonic
        self._last_used: dict[str, datetime] = {}
        self._last_used_at = float("-inf")

    def revision(self) -> int:
        with self._engine.connect() as db:
            return int(db.execute(select(id_tag_revision.c.revision)).scalar() or 0)

    def entries_for(self, station_id: str) -> list[AuthorizationEntry]:
        query = select(station_registrations.c.site_id).where(
            station_registrations.c.station_id == station_id)
        with self._engine.connect() as db:
            site_id = db.execute(query).scalar()
            rows = db.execute(select(
                id_tags.c.token_key, id_tags.c.id_tag, id_tags.c.token_type,
                id_tags.c.group_id, id_tags.c.status, id_tags.c.expires_at,
                id_tags.c.site_ids, id_tags.c.station_ids, id_tags.c.budget_exhausted)).all()
        last_used = self._recent_use()
        return [AuthorizationEntry(
            row.id_tag, row.status == "blocked" or bool(row.budget_exhausted), row.expires_at,
            row.group_id, last_used.get(row.token_key), row.token_type or DEFAULT_TOKEN_TYPE)
            for row in rows if _allowed(row, station_id, site_id)]

    def stations_for(self, id_tag: str) -> frozenset[str] | None:
        with self._engine.connect() as db:
            row = db.execute(select(id_tags.c.site_ids, id_tags.c.station_ids).where(
                id_tags.c.token_key == id_tag.casefold())).first()
            if row is None:
                return frozenset()
            if row.site_ids is None and row.station_ids is None:
                return None
            at_sites = set(db.execute(select(station_registrations.c.station_id).where(
                station_registrations.c.site_id.in_(row.site_ids or []))).scalars())
        return frozenset(at_sites | set(row.station_ids or ()))

    def _recent_use(self) -> dict[str, datetime]:
        if self._monotonic() - self._last_used_at < LAST_USED_SECONDS:
            return self._last_used
        query = (select(charges.c.id_tag, func.max(charges.c.sort_at))
                 .where(charges.c.id_tag.is_not(None)).group_by(charges.c.id_tag))
        with self._engine.connect() as db:
            latest: dict[str, datetime] = {}
            for tag, at in db.execute(query):
                key = str(tag).casefold()
                if key not in latest or at > latest[key]:
                    latest[key] = at
        self._last_used, self._last_used_at = latest, self._monotonic()
        return latest


def _allowed(row: Any, station_id: str, site_id: str | None) -> bool:
    if row.site_ids is None and row.station_ids is None:
        return True
    return station_id in (row.station_ids or ()) or (
        site_id is not None and site_id in (row.site_ids or ()))
