"""The id tag pages' HTML forms, read into the API's own request models (`TagIn`,
`TagPatch`, `GroupIn`), so a form passes exactly the API's validation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from save_server.infrastructure.dashboard.forms import expiry, ids, text, validated
from save_server.infrastructure.dashboard.i18n import DEFAULT_TIMEZONE
from save_server.infrastructure.id_tags.api import TagIn, TagPatch
from save_server.infrastructure.id_tags.groups_api import GroupIn, GroupPatch


def _number(value: str | None) -> str | None:
    return value.replace(",", ".") if value else None


def expiry_day(at: datetime | None) -> str:
    """The form's value for a stored expiry (the inverse of `expiry`)."""
    if at is None:
        return ""
    local = at.astimezone(ZoneInfo(DEFAULT_TIMEZONE)) - timedelta(microseconds=1)
    return local.date().isoformat()


def _fields(form: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "token_type": text(form, "token_type"), "group_id": text(form, "group_id"),
        "holder": text(form, "holder"), "status": text(form, "status") or "active",
        "expires_at": expiry(text(form, "expires_at")),
        "site_ids": ids(form.getlist("site_ids")),
        "station_ids": ids(form.getlist("station_ids")),
        "monthly_budget_kwh": _number(text(form, "monthly_budget_kwh"))}
    if text(form, "max_concurrent_charges"):
        fields["max_concurrent_charges"] = text(form, "max_concurrent_charges")
    return fields


def entered(form: Any) -> dict[str, Any]:
    """What was typed, to show again in the form beside its refusal."""
    values = {k: str(v) for k, v in form.items() if k not in ("site_ids", "station_ids")}
    return {**values, "site_ids": [str(v) for v in form.getlist("site_ids")],
            "station_ids": ids(form.getlist("station_ids")) or [],
            "expires_day": values.get("expires_at", "")}


def new_tag(form: Any) -> TagIn:
    return validated(TagIn, {"id_tag": text(form, "id_tag") or "", **_fields(form)})


def tag_changes(form: Any) -> TagPatch:
    """Every field of the edit form (a blank one clears the value)."""
    return validated(TagPatch, _fields(form))


def status_change(form: Any) -> TagPatch:
    return validated(TagPatch, {"status": text(form, "status") or ""})


def new_group(form: Any) -> GroupIn:
    return validated(GroupIn, {"group_id": text(form, "group_id") or "",
                            "label": text(form, "label") or "",
                            "monthly_budget_kwh": _number(text(form, "monthly_budget_kwh"))})


def group_changes(form: Any) -> GroupPatch:
    """The label and the budget (a blank budget: none)."""
    return validated(GroupPatch, {"label": text(form, "label") or "",
                               "monthly_budget_kwh": _number(text(form, "monthly_budget_kwh"))})
