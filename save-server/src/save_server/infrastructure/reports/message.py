"""The report e-mail: subject with the period, plain-text and HTML summary, CSV attached.
Built with the standard library's `email` package."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from save_server.domain.reports import (
    EmailMessageSpec,
    GroupUsageReport,
    RenderedReport,
    ReportLine,
    ReportRenderer,
    ReportSubscription,
    ReportSummary,
    ReportWindow,
)
from save_server.infrastructure.reports.csv_report import csv_attachment
from save_server.infrastructure.reports.group_usage import usage_csv, usage_html, usage_text

TOP_STATIONS = 5


def _local(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %z")


def period(window: ReportWindow, zone: tzinfo) -> str:
    return f"{_local(window.start, zone)} to {_local(window.end, zone)}"


def report_filename(window: ReportWindow, zone: tzinfo) -> str:
    start = window.start.astimezone(zone).strftime("%Y%m%dT%H%M")
    end = window.end.astimezone(zone).strftime("%Y%m%dT%H%M")
    return f"charges_{start}_{end}.csv"


def _station(station_id: str, name: str | None) -> str:
    return f"{station_id} ({name})" if name else station_id


def text_body(summary: ReportSummary, window: ReportWindow, timezone: str,
              zone: tzinfo) -> str:
    lines = [f"Charges that ended from {period(window, zone)} ({timezone}).", "",
             f"Charges: {summary.charge_count}",
             f"Total energy: {summary.total_energy_kwh:.3f} kWh",
             f"Ended in error: {summary.error_count}", ""]
    top = summary.top_stations(TOP_STATIONS)
    if top:
        lines.append("Top stations by energy:")
        lines += [f"  {_station(station, name)}: {kwh:.3f} kWh in {count} charges"
                  for station, name, count, kwh in top]
    else:
        lines.append("No charge ended in this period.")
    lines += ["", "Every charge is in the attached CSV."]
    return "\n".join(lines) + "\n"


def html_body(summary: ReportSummary, window: ReportWindow, timezone: str,
              zone: tzinfo) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(_station(station, name))}</td><td>{count}</td><td>{kwh:.3f}</td></tr>"
        for station, name, count, kwh in summary.top_stations(TOP_STATIONS))
    table = (f"<h3>Top stations by energy</h3><table border=\"1\" cellpadding=\"4\">"
             f"<tr><th>Station</th><th>Charges</th><th>kWh</th></tr>{rows}</table>"
             if rows else "<p>No charge ended in this period.</p>")
    return (
        "<html><body>"
        f"<p>Charges that ended from {e(period(window, zone))} ({e(timezone)}).</p>"
        "<ul>"
        f"<li>Charges: <b>{summary.charge_count}</b></li>"
        f"<li>Total energy: <b>{summary.total_energy_kwh:.3f} kWh</b></li>"
        f"<li>Ended in error: <b>{summary.error_count}</b></li>"
        f"</ul>{table}<p>Every charge is in the attached CSV.</p>"
        "</body></html>")


class EmailReportRenderer(ReportRenderer):
    def __init__(self, sender_address: str, compress_over_bytes: int) -> None:
        self._sender = sender_address
        self._compress_over = compress_over_bytes

    def render(self, subscription: ReportSubscription, window: ReportWindow,
               lines: Iterator[ReportLine],
               group_usage: GroupUsageReport | None = None) -> RenderedReport:
        zone = subscription.zone
        attachment, summary = csv_attachment(lines, zone, report_filename(window, zone),
                                             self._compress_over)
        text = text_body(summary, window, subscription.timezone, zone)
        body = html_body(summary, window, subscription.timezone, zone)
        attachments = (attachment,)
        if group_usage is not None:
            text += usage_text(group_usage)
            body = body.replace("</body>", usage_html(group_usage) + "</body>")
            attachments += (usage_csv(group_usage),)
        message = EmailMessageSpec(
            sender=self._sender, recipients=subscription.recipients,
            subject=f"Charge report {period(window, zone)}", text=text, html=body,
            attachments=attachments)
        return RenderedReport(message, summary)


def to_mime(spec: EmailMessageSpec) -> EmailMessage:
    """multipart/mixed: (text/plain | text/html alternative) + attachments."""
    message = EmailMessage()
    message["From"] = spec.sender
    message["To"] = ", ".join(spec.recipients)
    message["Subject"] = spec.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=spec.sender.rpartition("@")[2] or None)
    message.set_content(spec.text)
    message.add_alternative(spec.html, subtype="html")
    for attachment in spec.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                               filename=attachment.filename)
    return message
