"""The id tag pages' HTML forms, read into the API's own request models (`TagIn`,
`TagPatch`, `GroupIn`), so a form passes exactly the API's validation."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from save_server.infrastructure.dashboard.api_calls import Refused, invalid_form
from save_server.infrastructure.dashboard.i18n import DEFAULT_TIMEZONE
from save_server.infrastructure.id_tags.api import TagIn, TagPatch
from save_server.infrastructure.id_tags.groups_api import GroupIn, GroupPatch

TAG_FIELDS = ("token_type", "group_id", "holder", "status", "expires_at", "site_ids",
              "station_ids", "max_concurrent_charges", "monthly_budget_kwh")


def _text(form: Any, name: str) -> str | None:
    return str(form.get(name) or "").strip() or None


def _ids(values: list[Any]) -> list[str] | None:
    ids = [part.strip() for value in values
           for part in str(value).replace(";", ",").split(",") if part.strip()]
    return ids or None


def _number(value: str | None) -> str | None:
    return value.replace(",", ".") if value else None


def expiry(value: str | None) -> datetime | None:
    """A form's day: the tag is valid through that whole day, São Paulo time."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise Refused(422, f"expires_at: not a date: {value!r}") from error
    return datetime.combine(day + timedelta(days=1), time(), ZoneInfo(DEFAULT_TIMEZONE))


def expiry_day(at: datetime | None) -> str:
    """The form's value for a stored expiry (the inverse of `expiry`)."""
    if at is None:
        return ""
    local = at.astimezone(ZoneInfo(DEFAULT_TIMEZONE)) - timedelta(microseconds=1)
    return local.date().isoformat()


def _fields(form: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "token_type": _text(form, "token_type"), "group_id": _text(form, "group_id"),
        "holder": _text(form, "holder"), "status": _text(form, "status") or "active",
        "expires_at": expiry(_text(form, "expires_at")),
        "site_ids": _ids(form.getlist("site_ids")),
        "station_ids": _ids(form.getlist("station_ids")),
        "monthly_budget_kwh": _number(_text(form, "monthly_budget_kwh"))}
    if _text(form, "max_concurrent_charges"):
        fields["max_concurrent_charges"] = _text(form, "max_concurrent_charges")
    return fields


def entered(form: Any) -> dict[str, Any]:
    """What was typed, to show again in the form beside its refusal."""
    values = {k: str(v) for k, v in form.items() if k not in ("site_ids", "station_ids")}
    return {**values, "site_ids": [str(v) for v in form.getlist("site_ids")],
            "station_ids": _ids(form.getlist("station_ids")) or [],
            "expires_day": values.get("expires_at", "")}


def _model(model: type[BaseModel], values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise invalid_form(error) from error


def new_tag(form: Any) -> TagIn:
    return _model(TagIn, {"id_tag": _text(form, "id_tag") or "", **_fields(form)})


def tag_changes(form: Any) -> TagPatch:
    """Every field of the edit form (a blank one clears the value)."""
    return _model(TagPatch, _fields(form))


def status_change(form: Any) -> TagPatch:
    return _model(TagPatch, {"status": _text(form, "status") or ""})


def new_group(form: Any) -> GroupIn:
    return _model(GroupIn, {"group_id": _text(form, "group_id") or "",
                            "label": _text(form, "label") or "",
                            "monthly_budget_kwh": _number(_text(form, "monthly_budget_kwh"))})


def group_changes(form: Any) -> GroupPatch:
    """The label and the budget (a blank budget: none)."""
    return _model(GroupPatch, {"label": _text(form, "label") or "",
                               "monthly_budget_kwh": _number(_text(form, "monthly_budget_kwh"))})
