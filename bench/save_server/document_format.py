"""The cost of formatting station documents in-process (no database, no HTTP): what the worker
pays per changed station and what a list's size grows with. 10,000 stations with 2 connectors
and 3 readings, as `bench.save_server.run` seeds them; with `--evse-connectors N` each
connector is a 2.0.1 EVSE with N connectors reported (code that has `evse_connectors`).

    .venv/bin/python -m bench.save_server.document_format [--evse-connectors 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from save_server.domain.model import BootInfo, Connector, MeterSample
from save_server.domain.rules import ConnectorStatus, Measurand, StationStatus
from save_server.domain.views import StationView
from save_server.infrastructure.db.documents import view_document

T0 = datetime(2026, 12, 5, 8, tzinfo=UTC)


def stations(count: int, evse_connectors: int) -> list[StationView]:
    views = []
    for n in range(count):
        at = T0 + timedelta(seconds=n)
        connectors = []
        for connector_id in (1, 2):
            connector = Connector(connector_id, ConnectorStatus.AVAILABLE, "Available",
                                  "NoError", None, at, last_used_at=at)
            if evse_connectors:
                from save_server.domain.connector import EvseConnectorState

                connector.evse_connectors = tuple(
                    EvseConnectorState(c, ConnectorStatus.AVAILABLE, "Available", None, None,
                                       at) for c in range(1, evse_connectors + 1))
            connectors.append(connector)
        readings = [MeterSample(at, measurand, 230.0 + n % 7, "V", None)
                    for measurand in (Measurand.VOLTAGE, Measurand.POWER,
                                      Measurand.ENERGY_REGISTER)]
        views.append(StationView(f"CP-{n:05d}", StationStatus.CONNECTED, at, at, at,
                                 BootInfo("ACME", "Wallbox 22", f"SN-{n}", "1.2.3"),
                                 connectors=connectors, readings=readings))
    return views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--evse-connectors", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    views = stations(args.stations, args.evse_connectors)
    timings, size = [], 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        size = sum(len(view_document(view)) for view in views)
        timings.append((time.perf_counter() - started) * 1000)
    print(f"{args.stations} documents, {size / 1e6:.2f} MB: median {statistics.median(timings):.1f}"
          f" ms, min {min(timings):.1f} ms over {args.rounds} rounds "
          f"({1000 * statistics.median(timings) / args.stations:.2f} µs per station)")


if __name__ == "__main__":
    main()
