"""OCPP-J 1.6 frames a simulated charging station sends, built as raw JSON text.

The load generator deliberately does not use the gateway's code nor the `ocpp` package on the
client side: it speaks the wire format like a real charger, so the cost of building a frame is
tiny and the same for every target.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CALL = 2
CALL_RESULT = 3
CALL_ERROR = 4

DEFAULT_MIX: dict[str, int] = {"Heartbeat": 1, "StatusNotification": 1, "MeterValues": 2}


def utc_now_rfc3339() -> str:
    """Timezone-aware UTC timestamp with a `Z` suffix, as chargers send it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def boot_notification() -> dict[str, Any]:
    return {
        "chargePointVendor": "BenchVendor",
        "chargePointModel": "LoadGen-1",
        "firmwareVersion": "1.0.0",
    }


def heartbeat() -> dict[str, Any]:
    return {}


def status_notification() -> dict[str, Any]:
    return {
        "connectorId": random.randint(1, 2),
        "errorCode": "NoError",
        "status": random.choice(("Available", "Preparing", "Charging", "Finishing")),
        "timestamp": utc_now_rfc3339(),
    }


def meter_values() -> dict[str, Any]:
    return {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": utc_now_rfc3339(),
                "sampledValue": [
                    {
                        "value": f"{random.uniform(0, 100000):.1f}",
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                    },
                    {"value": f"{random.uniform(0, 22000):.0f}", "measurand": "Power.Active.Import",
                     "unit": "W"},
                ],
            }
        ],
    }


PAYLOAD_BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "BootNotification": boot_notification,
    "Heartbeat": heartbeat,
    "StatusNotification": status_notification,
    "MeterValues": meter_values,
}


def call_frame(message_id: str, action: str) -> str:
    """A CALL frame `[2, id, action, payload]` for one of the supported actions."""
    return json.dumps([CALL, message_id, action, PAYLOAD_BUILDERS[action]()], separators=(",", ":"))


def call_error_frame(message_id: str, code: str, description: str) -> str:
    return json.dumps([CALL_ERROR, message_id, code, description, {}], separators=(",", ":"))


@dataclass(frozen=True)
class CallMix:
    """Weighted choice of the periodic calls a station sends after its BootNotification."""

    actions: tuple[str, ...]
    weights: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> CallMix:
        """Parse `Heartbeat=1,StatusNotification=1,MeterValues=2` (weights are integers)."""
        weights: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            action, _, weight = part.partition("=")
            if action not in PAYLOAD_BUILDERS or action == "BootNotification":
                raise ValueError(f"unsupported action in --mix: {action!r}")
            weights[action] = int(weight or "1")
        return cls.from_weights(weights)

    @classmethod
    def from_weights(cls, weights: Mapping[str, int]) -> CallMix:
        if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("--mix needs at least one action with a positive weight")
        return cls(tuple(weights), tuple(weights.values()))

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.actions, self.weights)[0]

    def describe(self) -> str:
        return ",".join(f"{a}={w}" for a, w in zip(self.actions, self.weights, strict=True))
