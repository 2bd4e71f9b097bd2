"""Report windows from a cron schedule in a time zone: pure rules, no servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from save_server.domain.reports import (
    InvalidReportInput,
    ReportSubscription,
    ReportWindow,
    due_windows,
    validate_recipients,
    validate_timezone,
)
from save_server.service.reports import CronSchedule, validate_schedule


def schedule(expression: str, zone: str) -> CronSchedule:
    return CronSchedule(expression, validate_timezone(zone))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(("expression", "zone", "after", "now", "expected"), [
    # New York falls back on Sun 1 Nov 2026: the week that contains it lasts 7 days + 1 hour
    ("0 0 * * SUN", "America/New_York", utc(2026, 10, 20), utc(2026, 11, 9),
     [(utc(2026, 10, 18, 4), utc(2026, 10, 25, 4)), (utc(2026, 10, 25, 4), utc(2026, 11, 1, 4)),
      (utc(2026, 11, 1, 4), utc(2026, 11, 8, 5))]),
    # Berlin springs forward on Sun 29 Mar 2026: that day lasts 23 hours
    ("0 0 * * *", "Europe/Berlin", utc(2026, 3, 28, 12), utc(2026, 3, 30, 12),
     [(utc(2026, 3, 27, 23), utc(2026, 3, 28, 23)), (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))]),
    # A wall time skipped by the change (02:30 on 8 Mar 2026 in New York) happens at 03:30 EDT
    ("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12), utc(2026, 3, 9, 12),
     [(utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30)), (utc(2026, 3, 8, 7, 30),
                                                        utc(2026, 3, 9, 6, 30))]),
    # A repeated wall time (01:30 on 1 Nov 2026 in New York) happens once
    ("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12), utc(2026, 11, 2, 12),
     [(utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30)),
      (utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30))]),
    # Sao Paulo, the default: no DST any more, Sunday 23:00 is Monday 02:00 UTC
    ("0 23 * * SUN", "America/Sao_Paulo", utc(2026, 11, 3), utc(2026, 11, 16, 2),
     [(utc(2026, 11, 2, 2), utc(2026, 11, 9, 2)), (utc(2026, 11, 9, 2), utc(2026, 11, 16, 2))]),
])
def test_windows_follow_the_wall_clock_of_the_zone(expression: str, zone: str, after: datetime,
                                                   now: datetime,
                                                   expected: list[tuple[datetime, datetime]]
                                                   ) -> None:
    windows = due_windows(schedule(expression, zone), after, now)
    assert [(w.start, w.end) for w in windows] == expected
    for earlier, later in pairwise(windows):
        assert earlier.end == later.start  # consecutive: nothing skipped, nothing twice


def test_a_window_is_due_exactly_at_its_end_not_before() -> None:
    weekly = schedule("0 23 * * SUN", "America/Sao_Paulo")
    end = utc(2026, 11, 9, 2)
    assert due_windows(weekly, utc(2026, 11, 3), end - timedelta(microseconds=1)) == []
    assert [w.end for w in due_windows(weekly, utc(2026, 11, 3), end)] == [end]


def test_start_is_inclusive_and_end_exclusive() -> None:
    window = ReportWindow(utc(2026, 11, 2, 2), utc(2026, 11, 9, 2))
    assert window.contains(window.start)
    assert not window.contains(window.end)
    assert window.contains(window.end - timedelta(microseconds=1))
    assert not window.contains(window.start - timedelta(microseconds=1))


def test_catch_up_is_capped_at_the_newest_windows() -> None:
    hourly = schedule("0 * * * *", "UTC")
    windows = due_windows(hourly, utc(2026, 1, 1), utc(2026, 1, 3), limit=5)
    assert [w.end for w in windows] == [utc(2026, 1, 2, h) for h in range(20, 24)] + [
        utc(2026, 1, 3)]


def test_after_a_schedule_change_the_next_window_starts_where_the_last_one_ended() -> None:
    daily = schedule("0 6 * * *", "UTC")
    last_end = utc(2026, 11, 9, 2)  # the end of the last weekly window
    [window] = due_windows(daily, last_end, utc(2026, 11, 9, 6), continues=True)
    assert (window.start, window.end) == (last_end, utc(2026, 11, 9, 6))


@pytest.mark.parametrize(("call", "field"), [
    (lambda: validate_recipients([]), "recipients"),
    (lambda: validate_recipients(["admin@save.example", "not-an-address"]), "recipients"),
    (lambda: validate_recipients(["two@@save.example"]), "recipients"),
    (lambda: validate_timezone("Mars/Olympus_Mons"), "timezone"),
    (lambda: validate_timezone(""), "timezone"),
    (lambda: validate_schedule("0 23 * *"), "schedule"),
    (lambda: validate_schedule("61 23 * * SUN"), "schedule"),
    (lambda: validate_schedule("0 0 30 2 *"), "schedule"),  # never due
    (lambda: ReportWindow(utc(2026, 1, 2), utc(2026, 1, 1)), "window"),
    (lambda: ReportWindow(datetime(2026, 1, 1), utc(2026, 1, 2)), "window"),
    (lambda: ReportSubscription(("a@save.example",), timezone="Nowhere/City"), "timezone"),
])
def test_bad_input_names_the_field(call: object, field: str) -> None:
    with pytest.raises(InvalidReportInput) as raised:
        call()  # type: ignore[operator]
    assert raised.value.field_name == field


def test_recipients_are_trimmed_and_deduplicated() -> None:
    assert validate_recipients([" a@save.example", "a@save.example", "b@save.example"]) == (
        "a@save.example", "b@save.example")
