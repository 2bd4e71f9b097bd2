"""Charge reports by e-mail: subscriptions, report windows, runs, and the ports they need.

Plain Python. A subscription says who receives which charges and when (a cron schedule read
in the subscription's time zone); each scheduled time closes a window that starts at the
previous scheduled time (start inclusive, end exclusive); each window is reported by exactly
one run, recorded with its state, attempts and last error.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from save_server.domain.model import Charge

DEFAULT_SCHEDULE = "0 23 * * SUN"  # Sunday 23:00, the thesis's weekly report
DEFAULT_TIMEZONE = "America/Sao_Paulo"  # SAVE's
# A window missed while the service was down is caught up; a schedule far more frequent
# than the downtime would otherwise flood the recipients, so catch-up stops at this many.
MAX_CATCH_UP_WINDOWS = 500

# Deliberately simple: one @, no spaces, a dot in the domain. The SMTP server has the last word.
_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+$")


class InvalidReportInput(ValueError):
    """A subscription or window that breaks a rule; `field_name` names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field_name = field_name
        self.message = message


class RunState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    OPERATOR = "operator"


class SubscriptionOrigin(StrEnum):
    API = "api"
    ENVIRONMENT = "environment"  # the default subscription from REPORT_DEFAULT_* settings


def validate_recipients(recipients: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(r.strip() for r in recipients)
    if not cleaned:
        raise InvalidReportInput("recipients", "at least one e-mail address is required")
    for address in cleaned:
        if not _ADDRESS.match(address):
            raise InvalidReportInput("recipients", f"not an e-mail address: {address!r}")
    return tuple(dict.fromkeys(cleaned))


def validate_timezone(name: str) -> ZoneInfo:
    if not name or name not in _zone_names():
        raise InvalidReportInput("timezone", f"unknown IANA time zone: {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidReportInput("timezone", f"unknown IANA time zone: {name!r}") from error


_ZONES: set[str] = set()


def _zone_names() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES


@dataclass(frozen=True)
class ReportWindow:
    """[start, end) in UTC: a charge belongs to the window its end time falls in."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidReportInput("window", "start and end must carry a time zone")
        if self.start >= self.end:
            raise InvalidReportInput("window", "start must be before end")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


class Schedule(ABC):
    """When reports are due: scheduled times, as aware UTC instants, strictly increasing."""

    @abstractmethod
    def times_after(self, at: datetime) -> Iterator[datetime]:
        """The scheduled times strictly after `at`, in order, without end."""

    @abstractmethod
    def previous_before(self, at: datetime) -> datetime:
        """The last scheduled time strictly before `at`."""

    def next_after(self, at: datetime) -> datetime:
        return next(iter(self.times_after(at)))


def window_ending_at(schedule: Schedule, end: datetime) -> ReportWindow:
    """The window closed by the scheduled time `end`: from the previous scheduled time."""
    return ReportWindow(schedule.previous_before(end), end)


def due_windows(schedule: Schedule, after: datetime, now: datetime,
                limit: int = MAX_CATCH_UP_WINDOWS, continues: bool = False) -> list[ReportWindow]:
    """Every window whose end is a scheduled time in (after, now], oldest first.

    `after` is where reporting stands (the end of the last window run, or the subscription's
    creation): windows missed while the service was down are all returned, so none is skipped.
    When more than `limit` are due only the newest `limit` are returned. With `continues`
    (`after` is the end of a previous window) the first window starts at `after`, so a changed
    schedule never reports a charge twice.
    """
    windows: deque[ReportWindow] = deque(maxlen=limit)
    start: datetime | None = after if continues else None
    for end in schedule.times_after(after):
        if end > now:
            break
        windows.append(ReportWindow(start or schedule.previous_before(end), end))
        start = end
    return list(windows)


@dataclass
class ReportSubscription:
    recipients: tuple[str, ...]
    schedule: str = DEFAULT_SCHEDULE
    timezone: str = DEFAULT_TIMEZONE
    station_ids: tuple[str, ...] = ()
    id_tags: tuple[str, ...] = ()
    enabled: bool = True
    origin: SubscriptionOrigin = SubscriptionOrigin.API
    groups: tuple[str, ...] = ()  # only the charges of these id tag groups
    group_usage: bool = False  # also the id tag groups' usage of the window's month
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        self.recipients = validate_recipients(self.recipients)
        validate_timezone(self.timezone)
        self.station_ids = tuple(dict.fromkeys(self.station_ids))
        self.id_tags = tuple(dict.fromkeys(self.id_tags))
        self.groups = tuple(dict.fromkeys(self.groups))

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    def changed(self, **changes: object) -> ReportSubscription:
        """A copy with some fields replaced, validated like a new one."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass
class ReportRun:
    """One report of one window: pending → sending → sent | failed."""

    subscription_id: int
    window: ReportWindow
    trigger: RunTrigger = RunTrigger.SCHEDULE
    state: RunState = RunState.PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    charge_count: int | None = None
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def retryable(self) -> bool:
        return self.state is RunState.FAILED


@dataclass(frozen=True)
class ReportLine:
    """One charge as a report shows it: with its station's operator-entered name."""

    charge: Charge
    station_name: str | None = None


def report_month(window: ReportWindow, zone: tzinfo) -> str:
    """YYYY-MM of the window's last instant in `zone`: a monthly schedule (the 1st at 00:00)
    reports the month just ended, a weekly one the current month so far."""
    return (window.end - timedelta(microseconds=1)).astimezone(zone).strftime("%Y-%m")


@dataclass(frozen=True)
class GroupUsageLine:
    group_id: str
    label: str
    energy_kwh: float
    charges: int
    monthly_budget_kwh: float | None


@dataclass(frozen=True)
class GroupUsageReport:
    """The id tag groups' energy in a month (each charge in its site's time zone)."""

    month: str
    lines: tuple[GroupUsageLine, ...]


class GroupUsageSource(ABC):
    """The id tag groups' monthly usage, for the subscriptions that ask for it."""

    @abstractmethod
    def unknown_groups(self, groups: Sequence[str]) -> list[str]:
        """Those of `groups` that are not id tag groups."""

    @abstractmethod
    def month_usage(self, month: str, groups: Sequence[str]) -> GroupUsageReport:
        """Every group (or those of `groups`, when given), ordered by group id."""


@dataclass(frozen=True)
class ReportFilter:
    station_ids: tuple[str, ...] = ()
    id_tags: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # id tag groups (the tag's group at the charge's start)


@dataclass
class ReportSummary:
    """What the e-mail body says about a window's charges."""

    charge_count: int = 0
    error_count: int = 0
    total_energy_wh: float = 0.0
    energy_by_station: dict[str, float] = field(default_factory=dict)
    charges_by_station: dict[str, int] = field(default_factory=dict)
    station_names: dict[str, str] = field(default_factory=dict)

    def add(self, line: ReportLine, is_error: bool) -> None:
        charge = line.charge
        self.charge_count += 1
        self.error_count += int(is_error)
        energy = charge.energy_wh or 0.0
        self.total_energy_wh += energy
        station = charge.station_id
        self.energy_by_station[station] = self.energy_by_station.get(station, 0.0) + energy
        self.charges_by_station[station] = self.charges_by_station.get(station, 0) + 1
        if line.station_name:
            self.station_names[station] = line.station_name

    @property
    def total_energy_kwh(self) -> float:
        return self.total_energy_wh / 1000

    def top_stations(self, count: int = 5) -> list[tuple[str, str | None, int, float]]:
        """(station id, station name, charges, kWh), most energy first."""
        ranked = sorted(self.energy_by_station.items(), key=lambda item: (-item[1], item[0]))
        return [(station, self.station_names.get(station), self.charges_by_station[station],
                 energy / 1000) for station, energy in ranked[:count]]


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. "text/csv" or "application/gzip"
    content: bytes


@dataclass(frozen=True)
class EmailMessageSpec:
    """An e-mail independent of its transport."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()


class EmailDeliveryError(RuntimeError):
    """The message was not accepted (connection, TLS, authentication or a refusal)."""


class EmailSender(ABC):
    """Delivers e-mail. SMTP is one adapter; an HTTP mail API (the thesis's SES) is another."""

    @abstractmethod
    def send(self, message: EmailMessageSpec) -> None:
        """Return once the message is accepted for every recipient; else raise
        `EmailDeliveryError`."""


class ReportSubscriptionRepository(ABC):
    """Each write commits with its `reports.subscription-*` event naming `by` (who did it)."""

    @abstractmethod
    def add(self, subscription: ReportSubscription, now: datetime,
            by: str | None = None) -> ReportSubscription: ...

    @abstractmethod
    def get(self, subscription_id: int) -> ReportSubscription | None: ...

    @abstractmethod
    def list(self, enabled_only: bool = False) -> list[ReportSubscription]: ...

    @abstractmethod
    def update(self, subscription: ReportSubscription, now: datetime,
               by: str | None = None) -> ReportSubscription: ...

    @abstractmethod
    def delete(self, subscription_id: int, by: str | None = None) -> bool:
        """Remove the subscription and its runs; False when unknown."""

    @abstractmethod
    def by_origin(self, origin: SubscriptionOrigin) -> ReportSubscription | None: ...


class ReportRunRepository(ABC):
    """Runs, claimed atomically: one process wins a window, every other one sees it taken."""

    @abstractmethod
    def claim(self, subscription_id: int, window: ReportWindow, trigger: RunTrigger,
              now: datetime, claimant: str, lease: timedelta) -> ReportRun | None:
        """Create the run of this window if new, and move it to `sending` for `claimant` if it
        is pending (or `sending` under an expired lease). None when another process has it,
        it is already sent or failed, or the subscription is gone (deleted since it was read).
        The create and the state change commit together."""

    @abstractmethod
    def claim_pending(self, now: datetime, claimant: str,
                      lease: timedelta) -> ReportRun | None:
        """Like `claim`, for any one run waiting in `pending` (or with an expired lease)."""

    @abstractmethod
    def reopen(self, run_id: int, now: datetime) -> ReportRun | None:
        """A failed run back to `pending` (operator retry); None unless it was failed."""

    @abstractmethod
    def record_attempt(self, run_id: int, error: str | None, now: datetime) -> None:
        """Count an attempt; with `error` keep it as the last error."""

    @abstractmethod
    def finish(self, run_id: int, state: RunState, now: datetime,
               charge_count: int | None = None) -> ReportRun:
        """`sent` (sets sent_at) or `failed`."""

    @abstractmethod
    def get(self, run_id: int) -> ReportRun | None: ...

    @abstractmethod
    def find(self, subscription_id: int, window_start: datetime) -> ReportRun | None: ...

    @abstractmethod
    def latest_window_end(self, subscription_id: int,
                          trigger: RunTrigger = RunTrigger.SCHEDULE) -> datetime | None: ...

    @abstractmethod
    def list(self, subscription_id: int | None = None, state: RunState | None = None,
             limit: int = 100) -> list[ReportRun]:
        """Newest window first."""


@dataclass(frozen=True)
class RenderedReport:
    message: EmailMessageSpec
    summary: ReportSummary


class ReportRenderer(ABC):
    """Turns a window's charges into the e-mail (CSV attachment, summary in the body)."""

    @abstractmethod
    def render(self, subscription: ReportSubscription, window: ReportWindow,
               lines: Iterator[ReportLine],
               group_usage: GroupUsageReport | None = None) -> RenderedReport:
        """`group_usage`: a section and a CSV of the groups' month, when subscribed."""


class ReportCharges(ABC):
    """The charges a report covers: those that ended in the window (finished or error)."""

    @abstractmethod
    def ended_in(self, window: ReportWindow, report_filter: ReportFilter) -> Iterator[ReportLine]:
        """Oldest end first, streamed (constant memory)."""
