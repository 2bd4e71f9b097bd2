"""`reports.subscription-*` back into report subscriptions, with their own ids and times.
Report runs (which windows were sent) are not events: a rebuilt subscription starts with no
runs, so the scheduler reports its current window again (docs/architecture.md)."""

from __future__ import annotations

from sqlalchemy import delete, insert, update

from save_server.domain.commands import ProjectBusinessEvent
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.projections.common import moment, required
from save_server.infrastructure.reports.tables import report_runs, report_subscriptions

TYPES = ("reports.subscription-created", "reports.subscription-updated",
         "reports.subscription-deleted")

FIELDS = ("recipients", "schedule", "timezone", "station_ids", "id_tags", "enabled", "origin")


def project(sql: SqlStatements, command: ProjectBusinessEvent) -> None:
    db, payload = sql.db, command.payload
    required(payload, "id")
    subscription_id = payload["id"]
    if command.event_type == "reports.subscription-deleted":
        db.execute(delete(report_runs).where(report_runs.c.subscription_id == subscription_id))
        db.execute(delete(report_subscriptions).where(
            report_subscriptions.c.id == subscription_id))
        return
    required(payload, *FIELDS, "updated_at")
    row = {name: payload[name] for name in FIELDS}
    row["updated_at"] = moment(payload["updated_at"])
    if "created_at" in payload:
        row["created_at"] = moment(payload["created_at"])
    if db.execute(update(report_subscriptions).where(
            report_subscriptions.c.id == subscription_id).values(row)).rowcount:
        return
    if command.event_type == "reports.subscription-updated":
        return  # deleted later in the history: nothing to update
    db.execute(insert(report_subscriptions).values(id=subscription_id, **row))
    sql.follow_ids(report_subscriptions)
