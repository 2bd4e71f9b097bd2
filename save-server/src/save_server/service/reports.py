"""Use cases of the charge reports: subscriptions, due windows, exactly-once runs, retries."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from croniter import CroniterError, croniter

from save_server.domain.reports import (
    DEFAULT_SCHEDULE,
    DEFAULT_TIMEZONE,
    EmailSender,
    GroupUsageReport,
    GroupUsageSource,
    InvalidReportInput,
    RenderedReport,
    ReportCharges,
    ReportFilter,
    ReportRenderer,
    ReportRun,
    ReportRunRepository,
    ReportSubscription,
    ReportSubscriptionRepository,
    ReportWindow,
    RunState,
    RunTrigger,
    Schedule,
    SubscriptionOrigin,
    due_windows,
    report_month,
    validate_timezone,
)

log = structlog.get_logger("save_server.reports")


class SubscriptionNotFound(LookupError):
    def __init__(self, subscription_id: int) -> None:
        super().__init__(f"no report subscription {subscription_id}")


class RunNotFound(LookupError):
    def __init__(self, run_id: int) -> None:
        super().__init__(f"no report run {run_id}")


class RunConflict(RuntimeError):
    """The run is not in a state that allows the operation (e.g. retrying a sent report)."""


# -- the cron schedule ---------------------------------------------------------------------
def validate_schedule(expression: str) -> str:
    """Five cron fields (minute hour day-of-month month day-of-week), read in local time."""
    expression = " ".join(expression.split())
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise InvalidReportInput("schedule", f"not a 5-field cron expression: {expression!r}")
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterError, ValueError) as error:
        raise InvalidReportInput("schedule", f"never due: {expression!r}") from error
    return expression


_DST_MARGIN = timedelta(hours=2)


class CronSchedule(Schedule):
    """A cron expression read on the wall clock of a time zone.

    Scheduled wall times are turned into instants with the zone's rules: a wall time skipped
    by a DST change happens at the same offset as before the change (an hour later on the
    clock), a wall time repeated by a DST change happens once (its first occurrence).
    """

    def __init__(self, expression: str, zone: ZoneInfo) -> None:
        self._expression = validate_schedule(expression)
        self._zone = zone

    def times_after(self, at: datetime) -> Iterator[datetime]:
        # From a little earlier on the wall clock: around a DST change the wall clock of
        # `at` may be ahead of instants still to come.
        times = croniter(self._expression, self._wall(at) - _DST_MARGIN)
        last = at
        while True:
            candidate = self._instant(times.get_next(datetime))
            if candidate > last:
                last = candidate
                yield candidate

    def previous_before(self, at: datetime) -> datetime:
        times = croniter(self._expression, self._wall(at) + _DST_MARGIN)
        while True:
            candidate = self._instant(times.get_prev(datetime))
            if candidate < at:
                return candidate

    def _wall(self, at: datetime) -> datetime:
        return at.astimezone(self._zone).replace(tzinfo=None, fold=0)

    def _instant(self, wall: datetime) -> datetime:
        return wall.replace(tzinfo=self._zone, fold=0).astimezone(UTC)


def schedule_of(subscription: ReportSubscription) -> Schedule:
    return CronSchedule(subscription.schedule, validate_timezone(subscription.timezone))


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per run; the wait before attempt n+1 is first_delay * factor**(n-1)."""

    attempts: int = 4
    first_delay: float = 30.0
    factor: float = 2.0

    def delay(self, failed_attempts: int) -> float:
        return self.first_delay * self.factor ** (failed_attempts - 1)


def _claimant() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ReportService:
    subscriptions: ReportSubscriptionRepository
    runs: ReportRunRepository
    charges: ReportCharges
    renderer: ReportRenderer
    sender: EmailSender
    clock: Callable[[], datetime] = _utc_now
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    lease: timedelta = timedelta(minutes=15)
    claimant: str = field(default_factory=_claimant)
    group_usage: GroupUsageSource | None = None  # id tag groups (None: groups unknown)

    # -- subscriptions -----------------------------------------------------------------
    def create_subscription(self, recipients: Sequence[str], schedule: str = DEFAULT_SCHEDULE,
                            timezone: str = DEFAULT_TIMEZONE,
                            station_ids: Sequence[str] = (), id_tags: Sequence[str] = (),
                            enabled: bool = True,
                            origin: SubscriptionOrigin = SubscriptionOrigin.API,
                            by: str | None = None, groups: Sequence[str] = (),
                            group_usage: bool = False) -> ReportSubscription:
        subscription = ReportSubscription(
            tuple(recipients), validate_schedule(schedule), timezone, tuple(station_ids),
            tuple(id_tags), enabled, origin, self._known_groups(groups), group_usage)
        return self.subscriptions.add(subscription, self.clock(), by)

    def _known_groups(self, groups: Sequence[str]) -> tuple[str, ...]:
        if not groups:
            return ()
        unknown = (list(groups) if self.group_usage is None
                   else self.group_usage.unknown_groups(groups))
        if unknown:
            raise InvalidReportInput("groups", f"unknown id tag group(s): {', '.join(unknown)}")
        return tuple(groups)

    def get_subscription(self, subscription_id: int) -> ReportSubscription:
        found = self.subscriptions.get(subscription_id)
        if found is None:
            raise SubscriptionNotFound(subscription_id)
        return found

    def list_subscriptions(self) -> list[ReportSubscription]:
        return self.subscriptions.list()

    def update_subscription(self, subscription_id: int, by: str | None = None,
                            **changes: object) -> ReportSubscription:
        """Change any of recipients, schedule, timezone, station_ids, id_tags, enabled,
        groups, group_usage."""
        current = self.get_subscription(subscription_id)
        if "schedule" in changes:
            changes["schedule"] = validate_schedule(str(changes["schedule"]))
        if "groups" in changes:
            changes["groups"] = self._known_groups(changes["groups"])  # type: ignore[arg-type]
        for name in ("recipients", "station_ids", "id_tags"):
            if name in changes:
                changes[name] = tuple(changes[name])  # type: ignore[call-overload]
        return self.subscriptions.update(current.changed(**changes), self.clock(), by)

    def delete_subscription(self, subscription_id: int, by: str | None = None) -> None:
        if not self.subscriptions.delete(subscription_id, by):
            raise SubscriptionNotFound(subscription_id)

    def ensure_default_subscription(self, recipients: Sequence[str], schedule: str,
                                    timezone: str) -> ReportSubscription:
        """The subscription configured by environment: created once, kept in line after."""
        current = self.subscriptions.by_origin(SubscriptionOrigin.ENVIRONMENT)
        if current is None:
            return self.create_subscription(recipients, schedule, timezone,
                                            origin=SubscriptionOrigin.ENVIRONMENT,
                                            by="REPORT_DEFAULT_RECIPIENTS")
        wanted = current.changed(recipients=tuple(recipients),
                                 schedule=validate_schedule(schedule), timezone=timezone)
        if wanted == current:
            return current
        return self.subscriptions.update(wanted, self.clock(), "REPORT_DEFAULT_RECIPIENTS")

    # -- scheduling --------------------------------------------------------------------
    def due_windows(self, subscription: ReportSubscription) -> list[ReportWindow]:
        """Windows ended since the last scheduled run (or the subscription's creation)."""
        assert subscription.id is not None and subscription.created_at is not None
        last_end = self.runs.latest_window_end(subscription.id)
        after = last_end or subscription.created_at
        return due_windows(schedule_of(subscription), after, self.clock(),
                           continues=last_end is not None)

    def run_due(self) -> list[ReportRun]:
        """One scheduler tick: report every due window once, then any run left pending."""
        done: list[ReportRun] = []
        for subscription in self.subscriptions.list(enabled_only=True):
            assert subscription.id is not None
            for window in self.due_windows(subscription):
                run = self.runs.claim(subscription.id, window, RunTrigger.SCHEDULE,
                                      self.clock(), self.claimant, self.lease)
                if run is not None:
                    done.append(self._deliver(run, subscription))
        while (run := self.runs.claim_pending(self.clock(), self.claimant,
                                              self.lease)) is not None:
            subscription = self.subscriptions.get(run.subscription_id)
            if subscription is None:  # deleted meanwhile
                done.append(self.runs.finish(run.id or 0, RunState.FAILED, self.clock()))
                continue
            done.append(self._deliver(run, subscription))
        return done

    # -- operators ---------------------------------------------------------------------
    def send_now(self, subscription_id: int, window: ReportWindow) -> ReportRun:
        """Report a chosen window now; a failed run of the same window is retried."""
        subscription = self.get_subscription(subscription_id)
        existing = self.runs.find(subscription_id, window.start)
        if existing is not None:
            if existing.window != window:
                raise RunConflict(f"run {existing.id} already covers a window starting at "
                                  f"{window.start.isoformat()} (ending "
                                  f"{existing.window.end.isoformat()})")
            if existing.state is RunState.FAILED:
                return self.retry_run(existing.id or 0)
            raise RunConflict(f"run {existing.id} of this window is {existing.state.value}")
        run = self.runs.claim(subscription_id, window, RunTrigger.OPERATOR, self.clock(),
                              self.claimant, self.lease)
        if run is None:
            raise RunConflict("another process is reporting this window")
        return self._deliver(run, subscription)

    def retry_run(self, run_id: int) -> ReportRun:
        run = self.runs.get(run_id)
        if run is None:
            raise RunNotFound(run_id)
        if not run.retryable:
            raise RunConflict(f"run {run_id} is {run.state.value}; only failed runs are retried")
        subscription = self.get_subscription(run.subscription_id)
        if self.runs.reopen(run_id, self.clock()) is None:
            raise RunConflict(f"run {run_id} was retried meanwhile")
        claimed = self.runs.claim(run.subscription_id, run.window, run.trigger, self.clock(),
                                  self.claimant, self.lease)
        if claimed is None:
            raise RunConflict(f"run {run_id} is being sent by another process")
        return self._deliver(claimed, subscription)

    def list_runs(self, subscription_id: int | None = None, state: RunState | None = None,
                  limit: int = 100) -> list[ReportRun]:
        return self.runs.list(subscription_id, state, limit)

    # -- delivery ----------------------------------------------------------------------
    def _deliver(self, run: ReportRun, subscription: ReportSubscription) -> ReportRun:
        """Build and send with retries and backoff; every attempt is recorded."""
        assert run.id is not None
        report_filter = ReportFilter(subscription.station_ids, subscription.id_tags,
                                     subscription.groups)
        rendered: RenderedReport | None = None
        for attempt in range(1, self.retry.attempts + 1):
            try:
                if rendered is None:
                    rendered = self.renderer.render(
                        subscription, run.window, self.charges.ended_in(run.window,
                                                                        report_filter),
                        self._group_usage(subscription, run.window))
                self.sender.send(rendered.message)
            except Exception as error:
                message = f"{type(error).__name__}: {error}"[:2000]
                self.runs.record_attempt(run.id, message, self.clock())
                log.warning("report attempt failed", run_id=run.id, attempt=attempt,
                            error=message)
                if attempt < self.retry.attempts:
                    self.sleep(self.retry.delay(attempt))
                continue
            self.runs.record_attempt(run.id, None, self.clock())
            log.info("report sent", run_id=run.id, subscription_id=subscription.id,
                     window_start=run.window.start.isoformat(),
                     charges=rendered.summary.charge_count)
            return self.runs.finish(run.id, RunState.SENT, self.clock(),
                                    rendered.summary.charge_count)
        log.error("report failed", run_id=run.id, subscription_id=subscription.id)
        return self.runs.finish(run.id, RunState.FAILED, self.clock())


    def _group_usage(self, subscription: ReportSubscription,
                     window: ReportWindow) -> GroupUsageReport | None:
        if not subscription.group_usage or self.group_usage is None:
            return None
        return self.group_usage.month_usage(report_month(window, subscription.zone),
                                            subscription.groups)


def run_scheduler(service: ReportService, stop: threading.Event, interval: float) -> None:
    """Run due windows now and every `interval` seconds until `stop` is set."""
    while True:
        try:
            service.run_due()
        except Exception:
            log.exception("report scheduler tick failed")
        if stop.wait(interval):
            return
