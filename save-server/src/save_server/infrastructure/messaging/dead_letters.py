"""What a dead letter carries, on every broker and client that publishes one (pika in
messaging/rabbitmq.py, aio-pika in local_lists/consumer.py, the in-process broker in
messaging/embedded.py): the original's headers, the error and the routing key it came
with. Each adapter keeps its own publish: the clients' calls (blocking, awaited, in-process)
share nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_ERROR_CHARS = 1000  # a traceback's first lines: enough to tell the poison apart


def dead_letter_headers(headers: Mapping[str, Any] | None, routing_key: str,
                        error: str) -> dict[str, Any]:
    return {**(headers or {}), "x-error": error[:MAX_ERROR_CHARS],
            "x-original-routing-key": routing_key}
