"""`reports.subscription-*` back into report subscriptions, with their own ids and times, and
`reports.run-finished` into the runs that were sent or given up (so a rebuilt database does not
e-mail those windows again; runs still pending or being sent are not events)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update

from save_server.domain.commands import ProjectBusinessEvent
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.projections.common import moment, required
from save_server.infrastructure.reports.repositories import RUN_FIELDS
from save_server.infrastructure.reports.tables import report_runs, report_subscriptions

TYPES = ("reports.subscription-created", "reports.subscription-updated",
         "reports.subscription-deleted", "reports.run-finished")

FIELDS = ("recipients", "schedule", "timezone", "station_ids", "id_tags", "enabled", "origin")
# added later (0014_id_tag_groups_evse_types): absent from older events, which meant no group
# filter, no usage
LATER_FIELDS = {"groups": [], "group_usage": False}


RUN_TIMES = ("window_start", "window_end", "sent_at", "created_at", "updated_at")


def project(sql: SqlStatements, command: ProjectBusinessEvent) -> None:
    db, payload = sql.db, command.payload
    if command.event_type == "reports.run-finished":
        _run(sql, payload)
        return
    required(payload, "id")
    subscription_id = payload["id"]
    if command.event_type == "reports.subscription-deleted":
        db.execute(delete(report_runs).where(report_runs.c.subscription_id == subscription_id))
        db.execute(delete(report_subscriptions).where(
            report_subscriptions.c.id == subscription_id))
        return
    required(payload, *FIELDS, "updated_at")
    row = {name: payload[name] for name in FIELDS}
    row.update({name: payload.get(name, default) for name, default in LATER_FIELDS.items()})
    row["updated_at"] = moment(payload["updated_at"])
    t = report_subscriptions.c
    held = db.execute(select(t.created_at).where(t.id == subscription_id)).scalar()
    if command.event_type == "reports.subscription-updated":
        if held is not None:  # else deleted later in the history: nothing to update
            db.execute(update(report_subscriptions).where(t.id == subscription_id).values(row))
        return
    required(payload, "created_at")
    row["created_at"] = moment(payload["created_at"])
    if held is None:
        db.execute(insert(report_subscriptions).values(id=subscription_id, **row))
        sql.follow_ids(report_subscriptions)
    elif row["created_at"] < held:
        # the id was taken by the default subscription (REPORT_DEFAULT_RECIPIENTS) that the
        # empty database made at start, before the replay: the history's own comes first
        db.execute(delete(report_runs).where(report_runs.c.subscription_id == subscription_id))
        db.execute(update(report_subscriptions).where(t.id == subscription_id).values(row))
    # else: made first by the history; this is a later start's default subscription

def _run(sql: SqlStatements, payload: Mapping[str, Any]) -> None:
    """The run whole; it replaces a run of the same window that the scheduler of the rebuilt
    database may have begun meanwhile."""
    required(payload, *RUN_FIELDS)
    row = {name: payload[name] for name in RUN_FIELDS}
    row.update({name: moment(payload[name]) for name in RUN_TIMES})
    c = report_runs.c
    if sql.db.execute(select(report_subscriptions.c.id).where(
            report_subscriptions.c.id == row["subscription_id"])).first() is None:
        return  # its subscription was deleted later in the history
    sql.db.execute(delete(report_runs).where(or_(
        c.id == row["id"], and_(c.subscription_id == row["subscription_id"],
                                c.window_start == row["window_start"]))))
    sql.db.execute(insert(report_runs).values(row))
    sql.follow_ids(report_runs)
