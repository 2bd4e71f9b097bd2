"""The published contract of the remote commands (`docs/commands.schema.json`): each command's
parameters as JSON Schema, from the API's own models, with an example. The gateway keeps its
own catalogue and is tested against this file, so the two cannot drift.

`python -m save_server.infrastructure.commands.contract > docs/commands.schema.json`
regenerates it after a deliberate change of a command's parameters."""

from __future__ import annotations

import json
from typing import Any

from save_server.infrastructure.commands.params import EXAMPLES, PARAMETERS

DESCRIPTION = ("The one published contract of the remote commands (docs/commands.md): each "
               "command's version-neutral parameters as save-server's API accepts them and "
               "sends them to the gateway (snake_case JSON), with an example as given to the "
               "API and as sent to the gateway. Generated from "
               "save-server's models (save_server/infrastructure/commands/contract.py); the "
               "gateway's tests translate every example for each OCPP version.")


# What reaches the gateway when it differs from the API's example: save-server resolves a
# remote-stop's charge_id to the charge's transaction_id before sending.
SENT = {"remote-stop": {"transaction_id": "1234", "charge_id": 42}}


def contract() -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://save-csms.example/commands.schema.json",
            "title": "Remote commands: version-neutral parameters",
            "description": DESCRIPTION,
            "commands": {name: {"parameters": PARAMETERS[name].model_json_schema(),
                                "example": EXAMPLES[name],
                                "sent_to_gateway": SENT.get(name, EXAMPLES[name])}
                         for name in sorted(PARAMETERS)}}


if __name__ == "__main__":
    print(json.dumps(contract(), indent=2, ensure_ascii=False))
