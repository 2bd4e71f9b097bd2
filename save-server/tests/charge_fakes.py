"""A ChargeReader that knows no charge: for services that need one but whose tests start none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from save_server.domain.ports import ChargeFilter, ChargeReader


class NoCharges(ChargeReader):
    def page(self, charge_filter: ChargeFilter, after: Any, limit: int) -> list[Any]:
        return []

    def stream(self, charge_filter: ChargeFilter) -> Iterator[Any]:
        return iter(())

    def get(self, charge_id: int) -> None:
        return None

    def meter_values(self, station_id: str, transaction_id: str) -> list[Any]:
        return []
