"""The id tag groups' monthly usage as the report subscriptions e-mail it (the same figures
as `GET /id-tags/usage?month=`)."""

from __future__ import annotations

from collections.abc import Sequence

from save_server.domain.reports import GroupUsageLine, GroupUsageReport, GroupUsageSource
from save_server.service.id_tags import IdTagService, Usage


class IdTagGroupUsage(GroupUsageSource):
    def __init__(self, id_tags: IdTagService) -> None:
        self._id_tags = id_tags

    def unknown_groups(self, groups: Sequence[str]) -> list[str]:
        known = {g.group_id for g in self._id_tags.groups()}
        return [g for g in groups if g not in known]

    def month_usage(self, month: str, groups: Sequence[str]) -> GroupUsageReport:
        usage, wanted = self._id_tags.usage(month), set(groups)
        lines = []
        for group in self._id_tags.groups():  # ordered by group id
            if wanted and group.group_id not in wanted:
                continue
            used = usage.groups.get(group.group_id, Usage())
            lines.append(GroupUsageLine(group.group_id, group.label, round(used.energy_kwh, 3),
                                        used.charges, group.monthly_budget_kwh))
        return GroupUsageReport(month, tuple(lines))
