"""What the overview shows of a station, worked out from its API document."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

OFFLINE_LONG = timedelta(hours=1)
PAGE_SIZE = 50

# A station's overall state, problems first: the overview's order and its filter values.
STATES = ("faulted", "offline", "unavailable", "charging", "available", "unknown")
PROBLEMS = frozenset({"faulted", "offline", "unavailable"})
PROFILE_REFUSED = "profile_refused"  # a filter value beside the states
FILTERS = (*STATES[:2], PROFILE_REFUSED, *STATES[2:])


@dataclass(frozen=True)
class StationSummary:
    station_id: str
    name: str | None
    site_id: str | None
    connected: bool
    state: str
    last_seen_at: datetime | None
    connectors: tuple[tuple[int, str], ...]  # (connector id, its status or "unknown")
    profile_refused: bool = False  # load management's last profile for it was not accepted

    def offline_long(self, now: datetime) -> bool:
        return not self.connected and (
            self.last_seen_at is None or now - self.last_seen_at > OFFLINE_LONG)

    def live(self) -> dict[str, Any]:
        """What the live feed sends the browser about it."""
        return {"id": self.station_id, "state": self.state, "connected": self.connected,
                "connectors": [[c, s] for c, s in self.connectors]}


def summary(document: Mapping[str, Any], site_id: str | None,
            profile_refused: bool = False) -> StationSummary:
    connectors = tuple((int(c["connector_id"]), c.get("status") or "unknown")
                       for c in document.get("connectors") or ())
    connected = document.get("status") == "connected"
    return StationSummary(str(document["id"]), document.get("name"), site_id, connected,
                          _state(connected, [s for _, s in connectors]),
                          parse_time(document.get("last_seen_at")), connectors,
                          profile_refused)


def _state(connected: bool, statuses: list[str]) -> str:
    if "faulted" in statuses:
        return "faulted"
    if not connected:
        return "offline"
    if "in_use" in statuses:
        return "charging"
    if "available" in statuses or "reserved" in statuses:
        return "available"
    if statuses and all(s == "unavailable" for s in statuses):
        return "unavailable"
    return "available" if not statuses else "unknown"


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Counts:
    total: int
    connected: int
    charging: int
    faulted: int
    offline_long: int


def counts(stations: Iterable[StationSummary], now: datetime) -> Counts:
    rows = list(stations)
    return Counts(len(rows), sum(s.connected for s in rows),
                  sum(s.state == "charging" for s in rows),
                  sum(s.state == "faulted" for s in rows),
                  sum(s.offline_long(now) for s in rows))


@dataclass(frozen=True)
class OverviewQuery:
    site: str | None = None
    state: str | None = None
    search: str | None = None
    page: int = 1

    def matches(self, station: StationSummary) -> bool:
        if self.site and station.site_id != self.site:
            return False
        if self.state == PROFILE_REFUSED:
            if not station.profile_refused:
                return False
        elif self.state and station.state != self.state:
            return False
        if self.search:
            needle = self.search.casefold()
            return needle in station.station_id.casefold() or needle in (
                station.name or "").casefold()
        return True


def _rank(station: StationSummary) -> float:
    """Faulted, offline, then a refused charging profile, then the other states."""
    rank = STATES.index(station.state)
    if station.profile_refused and station.state not in ("faulted", "offline"):
        return 1.5
    return rank


def problems_first(stations: Iterable[StationSummary]) -> list[StationSummary]:
    return sorted(stations, key=lambda s: (_rank(s), s.station_id))


def page_of(stations: list[StationSummary], page: int, size: int = PAGE_SIZE
            ) -> tuple[list[StationSummary], int]:
    """(the page's rows, the number of pages)."""
    pages = max(1, -(-len(stations) // size))
    page = min(max(page, 1), pages)
    return stations[(page - 1) * size: page * size], pages
