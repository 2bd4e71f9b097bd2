"""Use cases on stations: read them, let operators enter their details."""

from __future__ import annotations

from collections.abc import Callable

from save_server.domain.ports import StationReader, UnitOfWork
from save_server.domain.rules import StationStatus


class StationNotFound(LookupError):
    def __init__(self, station_id: str) -> None:
        super().__init__(f"no charging station {station_id!r}")
        self.station_id = station_id


def list_stations(reader: StationReader, status: StationStatus | None = None) -> str:
    """The stations' documents as a JSON array."""
    return reader.list_documents(status)


def get_station(reader: StationReader, station_id: str) -> str:
    """The station's document."""
    document = reader.document(station_id)
    if document is None:
        raise StationNotFound(station_id)
    return document


def update_station_details(uow_factory: Callable[[], UnitOfWork], station_id: str,
                           details: dict[str, str | float | None]) -> None:
    """Set the given fields (at least one); others are kept. Unknown station → StationNotFound."""
    if not details:
        raise ValueError("at least one field is required")
    with uow_factory() as uow:
        station = uow.stations.get(station_id)
        if station is None:
            raise StationNotFound(station_id)
        station.update_details(**details)
        uow.commit()
