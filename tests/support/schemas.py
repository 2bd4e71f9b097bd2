"""The event contract's JSON Schemas (docs/events/), for tests of any service."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

EVENTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "events"


def business_event_validator() -> Callable[[dict[str, Any]], None]:
    """Validates one business event (accounts.*, reports.*, event-store.*) as a dict."""
    schema = json.loads((EVENTS_DIR / "business-event.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return validator.validate
