"""Reading the dashboard's HTML forms into the API's own request models, so that a form
passes exactly the API's validation (a refusal is shown on the page, `Refused`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from save_server.infrastructure.dashboard.api_calls import Refused, invalid_form
from save_server.infrastructure.dashboard.i18n import DEFAULT_TIMEZONE


def text(form: Any, name: str) -> str | None:
    """A field's trimmed text; None when blank or missing."""
    return str(form.get(name) or "").strip() or None


def ids(values: list[Any]) -> list[str] | None:
    """Ids from one or more fields (a multiple select, or text separated by `,` or `;`)."""
    found = [part.strip() for value in values
             for part in str(value).replace(";", ",").split(",") if part.strip()]
    return found or None


def validated(model: type[BaseModel], values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise invalid_form(error) from error


def expiry(value: str | None) -> datetime | None:
    """A form's day: valid through that whole day, São Paulo time."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise Refused(422, f"expires_at: not a date: {value!r}") from error
    return datetime.combine(day + timedelta(days=1), time(), ZoneInfo(DEFAULT_TIMEZONE))
