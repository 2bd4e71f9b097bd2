"""A connector (a 2.0.1 EVSE) and what is derived from the facts about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from save_server.domain.rules import STATUS_AFTER_BOOT, ConnectorStatus
from save_server.domain.status import StatusReport
from save_server.domain.timeline import derive

Boots = dict[datetime, str | None]  # a station's boots: receipt time → connection id


@dataclass(frozen=True)
class EvseConnectorState:
    """One connector of a 2.0.1 EVSE as its station last reported it (since the EVSE's last
    reset by a boot); the EVSE's own status is derived from these and its charges."""

    connector_id: int
    status: ConnectorStatus
    raw_status: str | None
    error_code: str | None
    info: str | None
    at: datetime

    @classmethod
    def of(cls, connector_id: int, report: StatusReport) -> EvseConnectorState:
        return cls(connector_id, report.status, report.raw_status, report.error_code,
                   report.info, report.at)


@dataclass
class Connector:
    """A connector (a 2.0.1 EVSE): its status follows the facts about it (status reports, the
    station's boots, the charges on it) in the order of `domain.timeline`; history is kept as
    far back as rules need."""

    connector_id: int
    status: ConnectorStatus | None = None
    raw_status: str | None = None
    error_code: str | None = None
    info: str | None = None
    status_at: datetime | None = None
    last_used_at: datetime | None = None
    last_available_at: datetime | None = None
    assigned_id_tag: str | None = None
    id_tag_at: datetime | None = None
    # Facts at or after `history_horizon`; older ones cannot change any derived value, so
    # repositories may load only this window.
    history_horizon: datetime | None = None
    used_before_horizon: datetime | None = None  # the last release before the horizon
    reports: list[StatusReport] = field(default_factory=list)
    new_reports: list[StatusReport] = field(default_factory=list)
    evse_connectors: tuple[EvseConnectorState, ...] = ()  # a 2.0.1 EVSE's connectors

    @property
    def id_tag(self) -> str | None:
        """The user who last started a charge here; cleared once the connector is available
        (which the end of a charge makes it)."""
        if self.assigned_id_tag is None or self.id_tag_at is None:
            return None
        if self.last_available_at is not None and self.last_available_at > self.id_tag_at:
            return None
        return self.assigned_id_tag

    def report(self, *facts: StatusReport, boots: Boots) -> None:
        self.reports.extend(facts)
        self.new_reports.extend(facts)
        self.recompute(boots)

    def assign_id_tag(self, id_tag: str, at: datetime) -> None:
        if self.id_tag_at is None or (at, id_tag) > (self.id_tag_at, self.assigned_id_tag or ""):
            self.assigned_id_tag, self.id_tag_at = id_tag, at

    def recompute(self, boots: Boots) -> None:
        if not self.reports and self.history_horizon is None:
            return  # nothing known yet (a connector known only from a charge's id tag)
        derived = derive(self.reports, boots, self.history_horizon)
        if derived is None:
            return
        shown = derived.shown
        self.status, self.raw_status, self.status_at = shown.status, shown.raw_status, shown.at
        self.error_code, self.info = shown.error_code, shown.info
        self.evse_connectors = tuple(EvseConnectorState.of(connector_id, report)
                                     for connector_id, report in derived.evse_connectors)
        available = [r.at for r in self.reports if r.status is ConnectorStatus.AVAILABLE]
        available += list(boots) if STATUS_AFTER_BOOT is ConnectorStatus.AVAILABLE else []
        if self.last_available_at is not None:
            available.append(self.last_available_at)
        self.last_available_at = max(available, default=None)
        # Derived, not kept: a fact arriving late may show that a release seen was none (a
        # charge's end while a 2.0.1 connector was still `Occupied`). Releases before the
        # horizon are final; the last of them is the answer when the window has none.
        if derived.released_before_horizon is not None:
            self.used_before_horizon = derived.released_before_horizon
        self.last_used_at = derived.last_released_at or self.used_before_horizon
        self.history_horizon = derived.horizon
