"""Small readers of event payloads shared by the projections."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


class UnusablePayload(ValueError):
    """An event of a projected type that lacks what its projection needs (poison)."""


def moment(text: Any) -> datetime | None:
    """An RFC 3339 time of a payload (None stays None), as an aware UTC datetime."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise UnusablePayload(f"not a time: {text!r}")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise UnusablePayload(f"not a time: {text!r}") from error
    if value.tzinfo is None:
        raise UnusablePayload(f"a time without its offset: {text!r}")
    return value.astimezone(UTC)


def required(payload: Mapping[str, Any], *names: str) -> None:
    missing = [name for name in names if name not in payload]
    if missing:
        raise UnusablePayload(f"payload lacks {', '.join(missing)}")
