"""What the gateway's two registry copies (stations, id tags) share to read save-server's
feed: the refusal of a message off the contract, and the checks of its common fields."""

from __future__ import annotations

from typing import Any


class InvalidRegistryEvent(ValueError):
    """A registry message the gateway cannot apply (not the contract's shape)."""


def item_revision(item: Any) -> int:
    """The `revision` of an event or of a snapshot's entry."""
    revision = item.get("revision") if isinstance(item, dict) else None
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise InvalidRegistryEvent("revision must be a non-negative integer")
    return revision


def required_text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRegistryEvent(f"{name} must be a non-empty string")
    return value
