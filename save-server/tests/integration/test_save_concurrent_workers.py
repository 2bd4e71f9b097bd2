"""Two workers committing batches that touch the same stations in opposite orders neither
deadlock nor lose an update (PostgreSQL row locks)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import IncomingEvent, ingest_events

pytestmark = pytest.mark.integration


def incoming(event: dict[str, Any]) -> IncomingEvent:
    envelope = parse_envelope(json.dumps(event).encode())
    return IncomingEvent(str(envelope.event_id), envelope.type, translate(envelope))


def test_opposite_order_batches_on_two_workers(postgres_url: str, tmp_path: Path,
                                               charger: Callable[..., Any]) -> None:
    container = bootstrap(Settings(database_url=postgres_url, data_dir=tmp_path))
    first, second = charger(), charger()
    rounds = 30
    batches_a = [[incoming(first.meter_values(1, [{"value": str(n)}], 1)),
                  incoming(second.meter_values(1, [{"value": str(n)}], 2))]
                 for n in range(rounds)]
    batches_b = [[incoming(second.meter_values(2, [{"value": str(n)}], 2)),
                  incoming(first.meter_values(2, [{"value": str(n)}], 1))]
                 for n in range(rounds)]
    errors: list[BaseException] = []

    def work(batches: list[list[IncomingEvent]]) -> None:
        try:
            for batch in batches:
                ingest_events(container.uow_factory, batch)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(b,)) for b in (batches_a, batches_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        reader = container.api_dependencies().charge_reader
        for cp, transaction in ((first, "1"), (second, "2")):
            assert len(reader.meter_values(cp.station_id, transaction)) == 2 * rounds
    finally:
        container.close()
