"""Facts about a connector's status: what its station reported, and what the station's boots and
charges imply (thesis table 4.1), each with what is known of its time and arrival."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property

from save_server.domain.rules import ConnectorStatus


class FactSource(StrEnum):
    """Where a connector status comes from; on equal times a status report outranks a charge,
    which outranks a boot (the station said it explicitly)."""

    BOOT = "boot"
    CHARGE = "charge"
    STATUS = "status"


UNKNOWN_ARRIVAL = datetime.min.replace(tzinfo=UTC)
REST_OF_THE_SECOND = timedelta(microseconds=999_999)
_RANK = {FactSource.BOOT: 0, FactSource.CHARGE: 1, FactSource.STATUS: 2}


@dataclass(frozen=True)
class StatusReport:
    """One fact about a connector at one moment: `at` is the station's clock (a boot's is the
    gateway's receipt time). `received_at` and `connection_id` say when and on which connection
    the report arrived (unknown for facts stored before they were kept); `evse_connector_id`
    is the connector within a 2.0.1 EVSE (None: the whole EVSE, as every 1.6 connector)."""

    at: datetime
    status: ConnectorStatus
    raw_status: str | None = None
    error_code: str | None = None
    info: str | None = None
    source: FactSource = FactSource.STATUS
    received_at: datetime | None = None
    connection_id: str | None = None
    evse_connector_id: int | None = None

    @cached_property
    def timeline_key(self) -> tuple:
        """Its place among a connector's facts before any boot moves it (domain.timeline)."""
        at = self.at
        if self.source is not FactSource.BOOT and at.microsecond == 0:
            at += REST_OF_THE_SECOND  # a whole-second time may mean any moment of that second
        return (at, _RANK[self.source], self.received_at or UNKNOWN_ARRIVAL, self.status.value,
                self.raw_status or "", self.error_code or "", self.info or "",
                self.evse_connector_id or 0, self.connection_id or "")

    @property
    def order_key(self) -> tuple:
        return (self.at, self.status.value, self.raw_status or "", self.error_code or "",
                self.info or "")
