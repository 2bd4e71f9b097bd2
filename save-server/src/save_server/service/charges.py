"""Use cases on the charge history."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from save_server.domain.model import Charge, MeterSample
from save_server.domain.ports import ChargeCursor, ChargeFilter, ChargeReader

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class ChargeNotFound(LookupError):
    def __init__(self, charge_id: int) -> None:
        super().__init__(f"no charge {charge_id}")
        self.charge_id = charge_id


@dataclass(frozen=True)
class ChargePage:
    charges: list[Charge]
    next_cursor: ChargeCursor | None


def list_charges(reader: ChargeReader, charge_filter: ChargeFilter,
                 after: ChargeCursor | None = None, limit: int = DEFAULT_PAGE_SIZE) -> ChargePage:
    """Newest first; a next cursor only when there may be more."""
    charges = reader.page(charge_filter, after, limit + 1)
    has_more = len(charges) > limit
    charges = charges[:limit]
    cursor = None
    if has_more and charges:
        last = charges[-1]
        assert last.id is not None
        cursor = ChargeCursor(last.sort_at, last.id)
    return ChargePage(charges, cursor)


def stream_charges(reader: ChargeReader, charge_filter: ChargeFilter) -> Iterator[Charge]:
    return reader.stream(charge_filter)


def get_charge(reader: ChargeReader, charge_id: int) -> tuple[Charge, list[MeterSample]]:
    charge = reader.get(charge_id)
    if charge is None:
        raise ChargeNotFound(charge_id)
    return charge, reader.meter_values(charge.station_id, charge.transaction_id)
