"""Hand-worked sites for the load-management unit tests: their clock's start and chargers on
all three phases."""

from __future__ import annotations

from datetime import UTC, datetime

from save_server.domain.load.model import ConnectorSupply, ElectricalModel, Supply

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ALL = ("L1", "L2", "L3")


def site(limit: float, *connectors: ConnectorSupply, **options: object) -> ElectricalModel:
    return ElectricalModel("site", Supply.THREE_PHASE, 220.0, limit,
                           connectors=connectors, **options)  # type: ignore[arg-type]


def three_phase(n: int, **options: object) -> list[ConnectorSupply]:
    """Connector 1 of stations CP0 … CP<n-1>, on L1, L2 and L3."""
    return [ConnectorSupply(f"CP{i}", 1, ALL, **options) for i in range(n)]  # type: ignore[arg-type]


def three_phase_site(limit: float, stations: int) -> ElectricalModel:
    return site(limit, *three_phase(stations))
