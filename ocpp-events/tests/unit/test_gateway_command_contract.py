"""The gateway's command catalogue follows the published contract (docs/commands.schema.json):
the same commands, and every published example becomes a schema-valid OCPP call in each version
the command exists in."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from ocpp.messages import Call

from ocpp_events.domain.remote_commands import COMMANDS, translate
from ocpp_events.infrastructure.ocpp.framing import validate

PUBLISHED = Path(__file__).resolve().parents[3] / "docs" / "commands.schema.json"


def published() -> dict:
    return json.loads(PUBLISHED.read_text())["commands"]


def test_the_gateway_knows_exactly_the_published_commands() -> None:
    assert set(COMMANDS) == set(published())


def test_every_published_example_translates_for_every_version_of_its_command() -> None:
    for name, entry in published().items():
        _, versions = COMMANDS[name]
        for version in versions:
            call = translate(name, json.loads(json.dumps(entry["sent_to_gateway"])), version,
                             str(uuid.uuid4()))
            validate(Call("1", call.action, call.payload), version)


def test_every_command_has_its_event_type_in_the_events_schema() -> None:
    """Each command the gateway knows is published as `ocpp-commands.<command>`."""
    schema = json.loads((PUBLISHED.parent / "events" / "ocpp-commands.schema.json").read_text())
    assert set(schema["properties"]["type"]["enum"]) == {f"ocpp-commands.{name}"
                                                          for name in COMMANDS}
