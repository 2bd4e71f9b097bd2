"""SQL adapters of the report ports: subscriptions, runs (claimed atomically), charges.

Each method is one transaction of its own. A run is claimed by inserting its window (the
unique key (subscription_id, window_start) lets only one insert win) and, in the same
transaction, locking the row with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite
serialises writers instead) and moving it from `pending` to `sending`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, exc, func, or_, select, update

from save_server.domain.business_events import BusinessEvent
from save_server.domain.reports import (
    ReportCharges,
    ReportFilter,
    ReportLine,
    ReportRun,
    ReportRunRepository,
    ReportSubscription,
    ReportSubscriptionRepository,
    ReportWindow,
    RunState,
    RunTrigger,
    SubscriptionOrigin,
)
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.integrity import Violation, violates
from save_server.infrastructure.db.mapping import charge_from_row
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.outbox.writer import add_to_outbox
from save_server.infrastructure.reports.tables import report_runs, report_subscriptions

STREAM_BATCH = 2000


def _subscription(row: Mapping[str, Any]) -> ReportSubscription:
    return ReportSubscription(
        recipients=tuple(row["recipients"]), schedule=row["schedule"], timezone=row["timezone"],
        station_ids=tuple(row["station_ids"]), id_tags=tuple(row["id_tags"]),
        enabled=row["enabled"], origin=SubscriptionOrigin(row["origin"]), id=row["id"],
        groups=tuple(row["groups"]), group_usage=row["group_usage"],
        created_at=row["created_at"], updated_at=row["updated_at"])


def _event(change: str, document: dict[str, Any], by: str | None,
           now: datetime) -> BusinessEvent:
    """`reports.subscription-<change>`: the subscription as stored, and who changed it."""
    payload = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in document.items()}
    return BusinessEvent(f"reports.subscription-{change}", payload, by,
                         event_id=str(uuid.uuid4()), occurred_at=now)


RUN_FIELDS = ("id", "subscription_id", "window_start", "window_end", "trigger", "state",
              "attempts", "last_error", "sent_at", "charge_count", "created_at", "updated_at")


def _run_finished(row: Mapping[str, Any], now: datetime) -> BusinessEvent:
    """`reports.run-finished`: a window reported (or given up), so that a rebuilt database
    knows which windows were e-mailed and does not send them again."""
    payload = {k: (row[k].isoformat() if isinstance(row[k], datetime) else row[k])
               for k in RUN_FIELDS}
    return BusinessEvent("reports.run-finished", payload, "report-scheduler",
                         event_id=str(uuid.uuid4()), occurred_at=now)


def _subscription_values(subscription: ReportSubscription) -> dict[str, Any]:
    return {"recipients": list(subscription.recipients), "schedule": subscription.schedule,
            "timezone": subscription.timezone, "station_ids": list(subscription.station_ids),
            "id_tags": list(subscription.id_tags), "enabled": subscription.enabled,
            "origin": subscription.origin.value, "groups": list(subscription.groups),
            "group_usage": subscription.group_usage}


class SqlReportSubscriptionRepository(ReportSubscriptionRepository):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, subscription: ReportSubscription, now: datetime,
            by: str | None = None) -> ReportSubscription:
        values = {**_subscription_values(subscription), "created_at": now, "updated_at": now}
        with self._engine.begin() as db:
            new_id = db.execute(report_subscriptions.insert().values(values)
                                .returning(report_subscriptions.c.id)).scalar_one()
            add_to_outbox(db, _event("created", {"id": new_id, **values}, by, now))
        found = self.get(new_id)
        assert found is not None
        return found

    def get(self, subscription_id: int) -> ReportSubscription | None:
        query = select(report_subscriptions).where(report_subscriptions.c.id == subscription_id)
        with self._engine.connect() as db:
            row = db.execute(query).mappings().first()
        return _subscription(row) if row else None

    def list(self, enabled_only: bool = False) -> list[ReportSubscription]:
        query = select(report_subscriptions).order_by(report_subscriptions.c.id)
        if enabled_only:
            query = query.where(report_subscriptions.c.enabled.is_(True))
        with self._engine.connect() as db:
            return [_subscription(r) for r in db.execute(query).mappings()]

    def update(self, subscription: ReportSubscription, now: datetime,
               by: str | None = None) -> ReportSubscription:
        assert subscription.id is not None
        values = {**_subscription_values(subscription), "updated_at": now}
        with self._engine.begin() as db:
            db.execute(update(report_subscriptions)
                       .where(report_subscriptions.c.id == subscription.id).values(values))
            add_to_outbox(db, _event("updated", {"id": subscription.id, **values}, by, now))
        found = self.get(subscription.id)
        assert found is not None
        return found

    def delete(self, subscription_id: int, by: str | None = None) -> bool:
        with self._engine.begin() as db:  # its runs go with it (ON DELETE CASCADE)
            deleted = db.execute(delete(report_subscriptions)
                                 .where(report_subscriptions.c.id == subscription_id))
            if deleted.rowcount:
                add_to_outbox(db, _event("deleted", {"id": subscription_id}, by,
                                         datetime.now(UTC)))
        return bool(deleted.rowcount)

    def by_origin(self, origin: SubscriptionOrigin) -> ReportSubscription | None:
        query = (select(report_subscriptions)
                 .where(report_subscriptions.c.origin == origin.value)
                 .order_by(report_subscriptions.c.id).limit(1))
        with self._engine.connect() as db:
            row = db.execute(query).mappings().first()
        return _subscription(row) if row else None


def _run(row: Mapping[str, Any]) -> ReportRun:
    return ReportRun(
        subscription_id=row["subscription_id"],
        window=ReportWindow(row["window_start"], row["window_end"]),
        trigger=RunTrigger(row["trigger"]), state=RunState(row["state"]),
        attempts=row["attempts"], last_error=row["last_error"], sent_at=row["sent_at"],
        charge_count=row["charge_count"], id=row["id"], created_at=row["created_at"],
        updated_at=row["updated_at"])


def _claimable(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    c = report_runs.c
    return or_(c.state == RunState.PENDING.value,
               and_(c.state == RunState.SENDING.value, c.claimed_at < now - lease))


class SqlReportRunRepository(ReportRunRepository):
    def __init__(self, engine: Engine, statements: type[SqlStatements]) -> None:
        self._engine = engine
        self._statements = statements

    def claim(self, subscription_id: int, window: ReportWindow, trigger: RunTrigger,
              now: datetime, claimant: str, lease: timedelta) -> ReportRun | None:
        c = report_runs.c
        try:
            with self._engine.begin() as db:
                new_run = self._statements(db).insert(report_runs).values(
                    subscription_id=subscription_id, window_start=window.start,
                    window_end=window.end, trigger=trigger.value, state=RunState.PENDING.value,
                    attempts=0, created_at=now, updated_at=now)
                db.execute(new_run.on_conflict_do_nothing(  # type: ignore[attr-defined]
                    index_elements=["subscription_id", "window_start"]))
                query = (select(report_runs)
                         .where(c.subscription_id == subscription_id,
                                c.window_start == window.start, _claimable(now, lease))
                         .with_for_update(skip_locked=True))
                return self._take(db, query, now, claimant)
        except exc.IntegrityError as error:
            if violates(error, Violation.FOREIGN_KEY, "report_runs"):
                return None  # its one foreign key: the subscription, deleted meanwhile
            raise

    def claim_pending(self, now: datetime, claimant: str,
                      lease: timedelta) -> ReportRun | None:
        query = (select(report_runs).where(_claimable(now, lease))
                 .order_by(report_runs.c.id).limit(1).with_for_update(skip_locked=True))
        with self._engine.begin() as db:
            self._statements(db).take_write_lock()
            return self._take(db, query, now, claimant)

    @staticmethod
    def _take(db: Any, query: Any, now: datetime, claimant: str) -> ReportRun | None:
        row = db.execute(query).mappings().first()
        if row is None:
            return None
        taken = db.execute(update(report_runs)
                           .where(report_runs.c.id == row["id"],
                                  report_runs.c.state == row["state"])
                           .values(state=RunState.SENDING.value, claimed_by=claimant,
                                   claimed_at=now, updated_at=now))
        if taken.rowcount != 1:
            return None
        return _run({**row, "state": RunState.SENDING.value, "updated_at": now})

    def reopen(self, run_id: int, now: datetime) -> ReportRun | None:
        c = report_runs.c
        with self._engine.begin() as db:
            reopened = db.execute(update(report_runs)
                                  .where(c.id == run_id, c.state == RunState.FAILED.value)
                                  .values(state=RunState.PENDING.value, claimed_by=None,
                                          claimed_at=None, updated_at=now))
        return self.get(run_id) if reopened.rowcount else None

    def record_attempt(self, run_id: int, error: str | None, now: datetime) -> None:
        c = report_runs.c
        values: dict[str, Any] = {"attempts": c.attempts + 1, "updated_at": now}
        if error is not None:
            values["last_error"] = error
        with self._engine.begin() as db:
            db.execute(update(report_runs).where(c.id == run_id).values(**values))

    def finish(self, run_id: int, state: RunState, now: datetime,
               charge_count: int | None = None) -> ReportRun:
        values: dict[str, Any] = {"state": state.value, "updated_at": now,
                                  "claimed_by": None, "claimed_at": None}
        if state is RunState.SENT:
            values.update(sent_at=now, charge_count=charge_count)
        with self._engine.begin() as db:
            db.execute(update(report_runs).where(report_runs.c.id == run_id).values(**values))
            row = db.execute(select(report_runs).where(report_runs.c.id == run_id)
                             ).mappings().one()
            add_to_outbox(db, _run_finished(row, now))
        return _run(row)

    def get(self, run_id: int) -> ReportRun | None:
        with self._engine.connect() as db:
            row = db.execute(select(report_runs).where(report_runs.c.id == run_id)
                             ).mappings().first()
        return _run(row) if row else None

    def find(self, subscription_id: int, window_start: datetime) -> ReportRun | None:
        c = report_runs.c
        with self._engine.connect() as db:
            row = db.execute(select(report_runs).where(
                c.subscription_id == subscription_id, c.window_start == window_start)
            ).mappings().first()
        return _run(row) if row else None

    def latest_window_end(self, subscription_id: int,
                          trigger: RunTrigger = RunTrigger.SCHEDULE) -> datetime | None:
        c = report_runs.c
        query = select(func.max(c.window_end)).where(c.subscription_id == subscription_id,
                                                     c.trigger == trigger.value)
        with self._engine.connect() as db:
            return db.execute(query).scalar()  # type: ignore[no-any-return]

    def list(self, subscription_id: int | None = None, state: RunState | None = None,
             limit: int = 100) -> list[ReportRun]:
        c = report_runs.c
        query = select(report_runs).order_by(c.window_start.desc(), c.id.desc()).limit(limit)
        if subscription_id is not None:
            query = query.where(c.subscription_id == subscription_id)
        if state is not None:
            query = query.where(c.state == state.value)
        with self._engine.connect() as db:
            return [_run(r) for r in db.execute(query).mappings()]


class SqlReportCharges(ReportCharges):
    """One query, read through a server-side cursor: constant memory for any window size."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ended_in(self, window: ReportWindow, report_filter: ReportFilter) -> Iterator[ReportLine]:
        charges, stations = tables.charges, tables.stations
        query = (select(charges, stations.c.name.label("station_name"))
                 .select_from(charges.outerjoin(
                     stations, stations.c.station_id == charges.c.station_id))
                 .where(charges.c.stopped.is_(True), charges.c.ended_at >= window.start,
                        charges.c.ended_at < window.end)
                 .order_by(charges.c.ended_at, charges.c.id))
        if report_filter.station_ids:
            query = query.where(charges.c.station_id.in_(report_filter.station_ids))
        if report_filter.id_tags:
            query = query.where(charges.c.id_tag.in_(report_filter.id_tags))
        if report_filter.groups:
            query = query.where(charges.c.id_tag_group.in_(report_filter.groups))
        with self._engine.connect() as db:
            result = db.execution_options(stream_results=True, yield_per=STREAM_BATCH
                                          ).execute(query).mappings()
            for row in result:
                yield ReportLine(charge_from_row(row), row["station_name"])
