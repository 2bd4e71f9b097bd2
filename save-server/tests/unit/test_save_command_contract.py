"""save-server's command models are exactly the published contract (docs/commands.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from save_server.infrastructure.commands.contract import contract
from save_server.infrastructure.commands.params import EXAMPLES, PARAMETERS

PUBLISHED = Path(__file__).resolve().parents[3] / "docs" / "commands.schema.json"


def test_the_api_models_are_the_published_contract() -> None:
    published = json.loads(PUBLISHED.read_text())
    assert published == contract(), (
        "a command's parameters changed: regenerate with "
        "`python -m save_server.infrastructure.commands.contract > docs/commands.schema.json` "
        "and check the gateway's translation (ocpp-events tests)")


def test_every_example_satisfies_its_published_schema_and_its_model() -> None:
    published = json.loads(PUBLISHED.read_text())["commands"]
    assert set(published) == set(PARAMETERS)
    for name, entry in published.items():
        jsonschema.validate(entry["example"], entry["parameters"])
        PARAMETERS[name].model_validate(EXAMPLES[name])
