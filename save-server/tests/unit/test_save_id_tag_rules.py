"""Id tag checks and rules, table-driven: what a token may be, budget months, concurrency."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from save_server.domain.id_tags import (
    IdTag,
    IdTagGroup,
    InvalidIdTag,
    budget_exhausted,
    check_group,
    check_tag,
    check_token,
    month_of,
    month_window,
    over_concurrent_limit,
    token_key,
)


@pytest.mark.parametrize(("token", "token_type"), [
    ("A" * 20, None), ("A" * 36, "ISO14443"), ("04:A2:B3:C4", None), ("x-y_z.*+|@#!~", None),
    ("BR-SAV-C12345678-9", "eMAID"), ("ab", "NoAuthorization"),
])
def test_tokens_that_are_accepted(token: str, token_type: str | None) -> None:
    assert check_token(token, token_type) == token


@pytest.mark.parametrize(("token", "token_type", "field", "words"), [
    ("A" * 21, None, "id_tag", "at most 20"),  # 1.6 limit without a token type
    ("A" * 37, "ISO14443", "id_tag", "at most 36"),
    ("", None, "id_tag", "empty"),
    ("has space", None, "id_tag", "printable ASCII"),
    ("tab\t", None, "id_tag", "printable ASCII"),
    ("çartão", None, "id_tag", "printable ASCII"),
    ("ABC", "Barcode", "token_type", "token_type is one of"),
])
def test_tokens_that_are_refused(token: str, token_type: str | None, field: str,
                                 words: str) -> None:
    with pytest.raises(InvalidIdTag) as refused:
        check_token(token, token_type)
    assert refused.value.field_name == field and words in str(refused.value)


def test_tokens_compare_case_insensitively() -> None:
    assert token_key("AbC1") == token_key("aBc1") == "abc1"


@pytest.mark.parametrize(("changes", "field"), [
    ({"max_concurrent_charges": 0}, "max_concurrent_charges"),
    ({"monthly_budget_kwh": 0.0}, "monthly_budget_kwh"),
    ({"monthly_budget_kwh": -1.0}, "monthly_budget_kwh"),
    ({"status": "lost"}, "status"),
    ({"expires_at": datetime(2027, 1, 1)}, "expires_at"),
    ({"holder": "x" * 201}, "holder"),
    ({"group_id": "has space"}, "group_id"),
])
def test_tags_that_are_refused(changes: dict, field: str) -> None:
    with pytest.raises(InvalidIdTag) as refused:
        check_tag(IdTag("CARD-1").changed(**changes))
    assert refused.value.field_name == field


def test_a_status_given_as_text_becomes_the_enum() -> None:
    assert check_tag(IdTag("CARD-1").changed(status="blocked")).status == "blocked"


@pytest.mark.parametrize(("group", "field"), [
    (IdTagGroup("APTO 1", "x"), "group_id"), (IdTagGroup("APTO-1", " "), "label"),
    (IdTagGroup("A" * 21, "x"), "group_id"), (IdTagGroup("APTO-1", "x", -5), "monthly_budget_kwh"),
])
def test_groups_that_are_refused(group: IdTagGroup, field: str) -> None:
    with pytest.raises(InvalidIdTag) as refused:
        check_group(group)
    assert refused.value.field_name == field


@pytest.mark.parametrize(("month", "zone", "start", "end"), [
    ("2026-12", "America/Sao_Paulo", datetime(2026, 12, 1, 3, tzinfo=UTC),
     datetime(2027, 1, 1, 3, tzinfo=UTC)),
    ("2026-03", "Europe/Paris", datetime(2026, 2, 28, 23, tzinfo=UTC),
     datetime(2026, 3, 31, 22, tzinfo=UTC)),  # summer time starts within March
    ("2026-06", "UTC", datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)),
])
def test_month_windows_follow_the_time_zone(month: str, zone: str, start: datetime,
                                            end: datetime) -> None:
    assert month_window(month, zone) == (start, end)


def test_an_instant_belongs_to_the_local_month() -> None:
    new_year_utc = datetime(2027, 1, 1, 2, 0, tzinfo=UTC)  # 23:00 on Dec 31 in São Paulo
    assert month_of(new_year_utc, "America/Sao_Paulo") == "2026-12"
    assert month_of(new_year_utc, "UTC") == "2027-01"


@pytest.mark.parametrize(("used", "budget", "exhausted"), [
    (0.0, None, False), (1e9, None, False), (9.99, 10.0, False), (10.0, 10.0, True),
    (12.0, 10.0, True),
])
def test_budget_exhaustion(used: float, budget: float | None, exhausted: bool) -> None:
    assert budget_exhausted(used, budget) is exhausted


@pytest.mark.parametrize(("running", "limit", "over"), [(1, 1, False), (2, 1, True),
                                                        (3, 3, False), (4, 3, True)])
def test_concurrent_limit(running: int, limit: int, over: bool) -> None:
    assert over_concurrent_limit(running, limit) is over
