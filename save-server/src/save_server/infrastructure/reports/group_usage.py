"""The id tag groups' monthly usage in a report e-mail: a text/HTML section and a CSV
(`id-tag-groups_<YYYY-MM>.csv`: group_id, label, energy_kwh, charges, monthly_budget_kwh)."""

from __future__ import annotations

import csv
import html
import io

from save_server.domain.reports import Attachment, GroupUsageReport

COLUMNS = ("group_id", "label", "energy_kwh", "charges", "monthly_budget_kwh")


def usage_csv(usage: GroupUsageReport) -> Attachment:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in usage.lines:
        writer.writerow((line.group_id, line.label, f"{line.energy_kwh:.3f}", line.charges,
                         "" if line.monthly_budget_kwh is None else line.monthly_budget_kwh))
    return Attachment(f"id-tag-groups_{usage.month}.csv", "text/csv",
                      out.getvalue().encode("utf-8"))


def _budget(budget: float | None) -> str:
    return "" if budget is None else f" of {budget:g} kWh"


def usage_text(usage: GroupUsageReport) -> str:
    lines = ["", f"Id tag groups in {usage.month} (each charge in its site's time zone):"]
    lines += [f"  {u.group_id} ({u.label}): {u.energy_kwh:.3f} kWh{_budget(u.monthly_budget_kwh)}"
              f" in {u.charges} charges" for u in usage.lines] or ["  no group"]
    return "\n".join(lines) + "\n"


def usage_html(usage: GroupUsageReport) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(u.group_id)}</td><td>{e(u.label)}</td><td>{u.energy_kwh:.3f}</td>"
        f"<td>{'' if u.monthly_budget_kwh is None else f'{u.monthly_budget_kwh:g}'}</td>"
        f"<td>{u.charges}</td></tr>" for u in usage.lines)
    return (f"<h3>Id tag groups in {e(usage.month)}</h3><table border=\"1\" cellpadding=\"4\">"
            "<tr><th>Group</th><th>Label</th><th>kWh</th><th>Budget kWh</th>"
            f"<th>Charges</th></tr>{rows}</table>")
