"""Answers the gateways' `station-registry.snapshot-requested` with one snapshot of the whole
registry (through the outbox). A durable queue on the registry exchange: with several API
replicas, one of them answers each request; a request is acknowledged after the snapshot's
outbox row committed."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from save_server.infrastructure.registry import consumers

THREAD = "save-server-registry-snapshots"
REQUESTED = "station-registry.snapshot-requested"

Answer = Callable[[str | None], int]  # publish a snapshot for this gateway; its revision


def requester(body: bytes) -> str | None:
    try:
        payload = json.loads(body).get("payload") or {}
    except (ValueError, AttributeError):
        return None  # a malformed request still gets a snapshot: it is harmless
    value = payload.get("gateway_instance")
    return str(value) if value is not None else None


def serve_rabbitmq(url: str, exchange: str, queue: str, answer: Answer,
                   stop: threading.Event) -> threading.Thread:
    return consumers.serve_rabbitmq(url, exchange, queue, (REQUESTED,),
                                    lambda body: answer(requester(body)), stop, THREAD)


def serve_embedded(broker: consumers.Broker, exchange: str, queue: str, answer: Answer,
                   stop: threading.Event) -> threading.Thread:
    return consumers.serve_embedded(broker, exchange, queue, (REQUESTED,),
                                    lambda body: answer(requester(body)), stop, THREAD)
