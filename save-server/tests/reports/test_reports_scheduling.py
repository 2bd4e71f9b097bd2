"""Scheduling with an injected clock against PostgreSQL: each window reported exactly once,
caught up after downtime, never twice — also with two schedulers racing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.domain.reports import ReportWindow, RunState, RunTrigger, SubscriptionOrigin
from save_server.infrastructure.db.engine import migrate

pytestmark = pytest.mark.integration

CREATED = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
FIRST_END = datetime(2026, 11, 9, 2, 0, tzinfo=UTC)  # Sunday 8 Nov 23:00 in Sao Paulo


def csv_of(received: Any) -> str:
    [part] = list(received.message.iter_attachments())
    return str(part.get_payload(decode=True).decode("utf-8"))


def test_a_window_is_sent_once_across_ticks_and_restarts(clock: Any, smtp_server: Any,
                                                          make_reports: Any) -> None:
    server = smtp_server()
    clock.now = CREATED
    reports = make_reports(server)
    reports.create_subscription(["admin@save.example"])
    assert reports.run_due() == []  # nothing due before the first scheduled time
    clock.now = FIRST_END + timedelta(minutes=5)
    assert len(reports.run_due()) == 1
    assert reports.run_due() == []
    restarted = make_reports(server)  # a new process: state comes from the database only
    assert restarted.run_due() == []
    clock.advance(days=1)
    assert restarted.run_due() == []
    assert len(server.mailbox.received) == 1
    [run] = restarted.list_runs()
    assert (run.state, run.attempts, run.trigger) == (RunState.SENT, 1, RunTrigger.SCHEDULE)


def test_windows_missed_while_down_are_each_sent_once_when_back(
        clock: Any, smtp_server: Any, make_reports: Any, charger: Any,
        feed_events: Any) -> None:
    """Down for three weeks: three consecutive windows; a charge ending exactly on a boundary
    is in the later window only."""
    server = smtp_server()
    clock.now = CREATED
    reports = make_reports(server)
    reports.create_subscription(["admin@save.example"])
    station = charger(f"CP-{uuid.uuid4().hex[:6]}")
    boundary = FIRST_END + WEEK
    feed_events(station.start(1, 1, 0, at=boundary - timedelta(hours=1)),
                station.stop(1, 4200, "Local", at=boundary),
                station.start(1, 2, 0, at=boundary - timedelta(hours=3)),
                station.stop(2, 700, "Local", at=boundary - timedelta(seconds=1)))
    clock.now = FIRST_END + 2 * WEEK + timedelta(hours=10)
    runs = reports.run_due()
    assert [(r.window.start, r.window.end) for r in runs] == [
        (FIRST_END - WEEK, FIRST_END), (FIRST_END, FIRST_END + WEEK),
        (FIRST_END + WEEK, FIRST_END + 2 * WEEK)]
    assert [r.charge_count for r in runs] == [0, 1, 1]
    subjects = [m.message["Subject"] for m in server.mailbox.received]
    assert len(subjects) == 3 and len(set(subjects)) == 3
    second, third = csv_of(server.mailbox.received[1]), csv_of(server.mailbox.received[2])
    assert ",1,TAG-1," in second and ",700,0.700," in second and "4200" not in second
    assert "2026-11-15T23:00:00-03:00" in third and ",4200,4.200," in third
    assert reports.run_due() == []


def test_windows_across_a_dst_change_use_the_zone_offsets(
        clock: Any, smtp_server: Any, make_reports: Any, charger: Any,
        feed_events: Any) -> None:
    """New York, Sunday 00:00: the week of 1 Nov 2026 (fall back) lasts 169 hours; times in
    the CSV carry -04:00 before the change and -05:00 after."""
    server = smtp_server()
    clock.now = datetime(2026, 10, 27, tzinfo=UTC)
    reports = make_reports(server)
    reports.create_subscription(["admin@save.example"], schedule="0 0 * * SUN",
                                timezone="America/New_York")
    station = charger(f"CP-{uuid.uuid4().hex[:6]}")
    before = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)  # 16:00 EDT
    after = datetime(2026, 11, 8, 4, 30, tzinfo=UTC)  # Sat 7 Nov 23:30 EST: still this week
    feed_events(station.start(1, 1, 0, at=before - timedelta(minutes=30)),
                station.stop(1, 1000, "Local", at=before),
                station.start(2, 2, 0, at=after - timedelta(minutes=30)),
                station.stop(2, 2000, "Local", at=after))
    clock.now = datetime(2026, 11, 8, 5, 0, tzinfo=UTC)
    runs = reports.run_due()
    assert [(r.window.start, r.window.end, r.charge_count) for r in runs] == [
        (datetime(2026, 10, 25, 4, tzinfo=UTC), datetime(2026, 11, 1, 4, tzinfo=UTC), 1),
        (datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 11, 8, 5, tzinfo=UTC), 1)]
    first, second = (csv_of(m) for m in server.mailbox.received)
    assert "2026-10-31T16:00:00-04:00" in first
    assert "2026-11-07T23:30:00-05:00" in second
    assert server.mailbox.received[1].message["Subject"] == (
        "Charge report 2026-11-01 00:00 -0400 to 2026-11-08 00:00 -0500")


def test_two_schedulers_racing_send_each_window_exactly_once(
        pg_url: str, tmp_path: Path, clock: Any, smtp_server: Any, make_reports: Any) -> None:
    """Two schedulers, each with its own engine (own connections), start the same catch-up
    at the same moment: every window is claimed by one of them and mailed once."""
    server = smtp_server()
    server.mailbox.delay = 0.05  # a slow server widens the race
    clock.now = CREATED
    make_reports(server).create_subscription(["admin@save.example"])
    make_reports(server).create_subscription(["ops@save.example"], schedule="0 6 * * *",
                                             timezone="Europe/Berlin")
    clock.now = FIRST_END + 2 * WEEK
    containers = [bootstrap(Settings(database_url=pg_url, data_dir=tmp_path)) for _ in range(2)]
    services = [c.report_service(clock=clock, sender=server.sender(), sleep=lambda _: None,
                                 claimant=f"scheduler-{i}") for i, c in enumerate(containers)]
    start = threading.Barrier(2)
    results: list[list[Any]] = [[], []]

    def tick(i: int) -> None:
        start.wait()
        results[i] = services[i].run_due()

    threads = [threading.Thread(target=tick, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for container in containers:
        container.close()

    runs = services[0].list_runs(limit=1000)
    expected = 3 + 19  # weekly: 3 windows; daily since 3 Nov 06:00 CET up to 23 Nov 02:00 UTC
    assert len(runs) == expected and all(r.state is RunState.SENT for r in runs)
    assert all(r.attempts == 1 for r in runs)
    assert len(server.mailbox.received) == expected
    subjects = [(m.rcpt_tos[0], m.message["Subject"]) for m in server.mailbox.received]
    assert len(set(subjects)) == expected
    ids = [r.id for r in results[0]] + [r.id for r in results[1]]
    assert len(ids) == len(set(ids)) == expected  # each run done by one scheduler only


def test_a_run_left_sending_by_a_crashed_process_is_taken_over_after_its_lease(
        container: Any, clock: Any, smtp_server: Any, make_reports: Any) -> None:
    server = smtp_server()
    clock.now = CREATED
    reports = make_reports(server, lease=timedelta(minutes=15))
    subscription = reports.create_subscription(["admin@save.example"])
    clock.now = FIRST_END
    window = ReportWindow(FIRST_END - WEEK, FIRST_END)
    crashed = reports.runs.claim(subscription.id, window, RunTrigger.SCHEDULE, clock(),
                                 "crashed-process", timedelta(minutes=15))
    assert crashed is not None and crashed.state is RunState.SENDING
    clock.advance(minutes=10)
    assert reports.run_due() == [] and server.mailbox.received == []  # lease still valid
    clock.advance(minutes=6)
    [run] = reports.run_due()
    assert run.id == crashed.id and run.state is RunState.SENT
    assert len(server.mailbox.received) == 1


def test_embedded_storage_sqlite_sends_once(tmp_path: Path, clock: Any,
                                            smtp_server: Any) -> None:
    url = f"sqlite:///{tmp_path / 'save-server.sqlite3'}"
    migrate(url)
    container = bootstrap(Settings(database_url=url, data_dir=tmp_path))
    server = smtp_server()
    try:
        clock.now = CREATED
        reports = container.report_service(clock=clock, sender=server.sender())
        reports.create_subscription(["admin@save.example"])
        clock.now = FIRST_END + WEEK
        assert len(reports.run_due()) == 2
        assert reports.run_due() == []
        assert len(server.mailbox.received) == 2
    finally:
        container.close()


def test_the_default_subscription_comes_from_settings_once(container: Any, clock: Any,
                                                           smtp_server: Any,
                                                           make_reports: Any) -> None:
    settings = Settings(report_default_recipients=" admin@save.example, ops@save.example ")
    assert settings.report_default_recipient_list == ["admin@save.example", "ops@save.example"]
    reports = make_reports(smtp_server())
    first = reports.ensure_default_subscription(settings.report_default_recipient_list,
                                                settings.report_default_cron,
                                                settings.report_default_timezone)
    again = reports.ensure_default_subscription(settings.report_default_recipient_list,
                                                settings.report_default_cron,
                                                settings.report_default_timezone)
    assert again.id == first.id and first.origin is SubscriptionOrigin.ENVIRONMENT
    assert (first.schedule, first.timezone) == ("0 23 * * SUN", "America/Sao_Paulo")
    changed = reports.ensure_default_subscription(["boss@save.example"], "0 7 * * MON",
                                                  "America/Sao_Paulo")
    assert changed.id == first.id and changed.recipients == ("boss@save.example",)
    assert len(reports.list_subscriptions()) == 1


def test_two_scheduler_processes_send_each_window_once(pg_url: str, tmp_path: Path,
                                                       clock: Any, smtp_server: Any,
                                                       make_reports: Any) -> None:
    """`python -m save_server scheduler` twice, real clock: an hourly subscription created
    three hours ago has three windows due; both processes run them; three e-mails."""
    server = smtp_server()
    now = datetime.now(UTC)
    clock.now = now - timedelta(hours=3)
    reports = make_reports(server)
    subscription = reports.create_subscription(["admin@save.example"], schedule="0 * * * *",
                                               timezone="UTC")
    env = {**os.environ, "DATABASE_URL": pg_url, "DATA_DIR": str(tmp_path),
           "SMTP_HOST": server.host, "SMTP_PORT": str(server.port), "SMTP_SECURITY": "none",
           "SMTP_FROM": "reports@save.example", "REPORT_SCHEDULER_INTERVAL": "0.2",
           "LOG_FORMAT": "json"}
    processes = [subprocess.Popen([sys.executable, "-m", "save_server", "scheduler"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for _ in range(2)]
    def due() -> int:  # 3, or 4 if an hour strikes during the test
        return 3 + int(datetime.now(UTC).replace(minute=0, second=0, microsecond=0) > now)

    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = reports.list_runs(subscription.id)
            if len(runs) == due() and all(r.state is RunState.SENT for r in runs):
                break
            time.sleep(0.1)
        time.sleep(1.0)  # both keep ticking: nothing more may be sent
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = [p.communicate(timeout=20)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    runs = reports.list_runs(subscription.id)
    assert len(runs) == due() and all(r.state is RunState.SENT for r in runs), outputs
    assert len(server.mailbox.received) == due()
    assert server.mailbox.received[0].mail_from == "reports@save.example"
