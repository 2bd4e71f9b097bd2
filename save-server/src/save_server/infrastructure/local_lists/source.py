"""The AuthorizationListSource port on the id tag registry's tables (infrastructure/id_tags):
a tag is allowed at a station when it names neither sites nor stations, names the station, or
names the station's site (the gateway's rule, ocpp_events.domain.authorization). A blocked
tag, and one whose monthly budget is used up (the gateway answers `Blocked` then too), goes
as `Blocked`. "Last used" is the latest charge started with the tag (any station), read for
all tags at once and kept LAST_USED_SECONDS: the order only matters when a list does not fit.

The tags are read whole once per revision of the registry and kept indexed by the station
and the site they name (`_TagIndex`): a station's entries are then its own few rows, not a
scan of every tag (10,000 stations checked against 10,000 tags read 100 million rows). The
revision is read before the rows, so a copy is never older than the revision it is kept
under; a change that commits meanwhile bumps the revision and the next read takes it."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from save_server.domain.local_lists import AuthorizationEntry, AuthorizationListSource
from save_server.infrastructure.db.tables import charges
from save_server.infrastructure.id_tags.tables import id_tag_revision, id_tags
from save_server.infrastructure.registry.tables import station_registrations

LAST_USED_SECONDS = 60.0
DEFAULT_TOKEN_TYPE = "ISO14443"  # a tag registered without one (1.6 only): an RFID card


TAG_COLUMNS = (id_tags.c.token_key, id_tags.c.id_tag, id_tags.c.token_type,
               id_tags.c.group_id, id_tags.c.status, id_tags.c.expires_at, id_tags.c.site_ids,
               id_tags.c.station_ids, id_tags.c.budget_exhausted)


class SqlAuthorizationListSource(AuthorizationListSource):
    def __init__(self, engine: Engine,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._monotonic = monotonic
        self._last_used: dict[str, datetime] = {}
        self._last_used_at = float("-inf")
        self._index: _TagIndex | None = None
        self._reading = threading.Lock()

    def revision(self) -> int:
        with self._engine.connect() as db:
            return _revision(db)

    def entries_for(self, station_id: str) -> list[AuthorizationEntry]:
        query = select(station_registrations.c.site_id).where(
            station_registrations.c.station_id == station_id)
        with self._engine.connect() as db:
            site_id = db.execute(query).scalar()
            revision = _revision(db)
        rows = self._tags(revision).allowed_at(station_id, site_id)
        last_used = self._recent_use()
        return [AuthorizationEntry(
            row.id_tag, row.status == "blocked" or bool(row.budget_exhausted), row.expires_at,
            row.group_id, last_used.get(row.token_key), row.token_type or DEFAULT_TOKEN_TYPE)
            for row in rows]

    def _tags(self, revision: int) -> _TagIndex:
        """Every tag as of `revision` or later; read again only when the revision moved."""
        index = self._index
        if index is not None and index.revision == revision:
            return index
        with self._reading:  # one reader at a time: the others take its copy
            index = self._index
            if index is None or index.revision != revision:
                with self._engine.connect() as db:
                    revision = _revision(db)
                    rows = db.execute(select(*TAG_COLUMNS)).all()
                index = self._index = _TagIndex.of(revision, rows)
        return index

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


def _revision(db: Connection) -> int:
    return int(db.execute(select(id_tag_revision.c.revision)).scalar() or 0)


@dataclass(frozen=True)
class _TagIndex:
    """The tags of one revision: those allowed everywhere, and the others by each station
    and each site they name."""

    revision: int
    everywhere: tuple[Any, ...]
    by_station: dict[str, list[Any]]
    by_site: dict[str, list[Any]]

    @classmethod
    def of(cls, revision: int, rows: Sequence[Any]) -> _TagIndex:
        everywhere: list[Any] = []
        by_station: dict[str, list[Any]] = defaultdict(list)
        by_site: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            if row.site_ids is None and row.station_ids is None:
                everywhere.append(row)
                continue
            for station_id in set(row.station_ids or ()):
                by_station[station_id].append(row)
            for site_id in set(row.site_ids or ()):
                by_site[site_id].append(row)
        return cls(revision, tuple(everywhere), dict(by_station), dict(by_site))

    def allowed_at(self, station_id: str, site_id: str | None) -> list[Any]:
        """Each tag once (one may name both the station and its site)."""
        named = self.by_station.get(station_id, [])
        at_site = self.by_site.get(site_id, []) if site_id is not None else []
        if not at_site:
            return [*self.everywhere, *named]
        seen = {row.token_key for row in named}
        return [*self.everywhere, *named, *(r for r in at_site if r.token_key not in seen)]
