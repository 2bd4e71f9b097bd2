"""Decision rules save-server needs about tags: the budget month and the concurrency limit.

A monthly budget resets on the 1st at midnight in a time zone (the site's, see
`service.id_tags`). A charge counts, whole, in the month in which it started (a charge across
midnight of the 1st belongs to the month it began in: its energy is known only per charge).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunningCharge:
    """A charge of a tag that has not ended."""

    station_id: str
    transaction_id: str
    started_at: datetime | None


def month_of(at: datetime, timezone: str) -> str:
    """`YYYY-MM` of an instant in a time zone."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def month_window(month: str, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of a `YYYY-MM` month in a time zone, as UTC instants."""
    year, number = (int(part) for part in month.split("-"))
    zone = ZoneInfo(timezone)
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def budget_exhausted(used_kwh: float, budget_kwh: float | None) -> bool:
    """No budget: never exhausted. A budget is used up once the energy reaches it."""
    return budget_kwh is not None and used_kwh >= budget_kwh


def over_concurrent_limit(running: int, limit: int) -> bool:
    """`running` charges of one tag (including the one that just started) break its limit."""
    return running > limit


def charges_over_limit(running: Sequence[RunningCharge], limit: int) -> list[RunningCharge]:
    """The charges to stop when a tag runs more than `limit` (two gateways accepted it at the
    same moment): the oldest `limit` keep charging, the later ones are stopped."""
    ordered = sorted(running, key=lambda c: (c.started_at or LATEST, c.station_id,
                                             c.transaction_id))
    return ordered[limit:]
