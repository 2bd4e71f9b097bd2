"""Local lists, the pure part: what a station should hold, the differential and full messages
that get it there, version numbers, the size limit and the support a station declared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from save_server.domain.local_lists import (
    AuthorizationEntry,
    ListChange,
    ListEntry,
    ListStatus,
    LocalListState,
    Support,
    UpdateType,
    applied,
    desired_list,
    differences,
    plan,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
A = ListStatus.ACCEPTED


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def tag(id_tag: str, used_hours_ago: float | None = None, **fields: object) -> AuthorizationEntry:
    used = None if used_hours_ago is None else ago(used_hours_ago)
    return AuthorizationEntry(id_tag, last_used_at=used, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("entry", "status"), [
    (tag("ACTIVE"), ListStatus.ACCEPTED),
    (tag("BLOCKED", blocked=True), ListStatus.BLOCKED),
    (tag("EXPIRED", expires_at=ago(1)), ListStatus.EXPIRED),
    (tag("EXPIRES-NOW", expires_at=NOW), ListStatus.EXPIRED),
    (tag("VALID", expires_at=NOW + timedelta(days=1)), ListStatus.ACCEPTED),
    (tag("BOTH", blocked=True, expires_at=ago(1)), ListStatus.BLOCKED),
])
def test_blocked_and_expired_tags_stay_in_the_list_with_their_status(
        entry: AuthorizationEntry, status: ListStatus) -> None:
    [listed] = desired_list([entry], NOW).values()
    assert (listed.id_tag, listed.status) == (entry.id_tag, status)


@pytest.mark.parametrize(("max_size", "expected"), [
    (None, ["RECENT", "OLDER", "OLDEST", "A-NEVER", "B-NEVER"]),
    (5, ["RECENT", "OLDER", "OLDEST", "A-NEVER", "B-NEVER"]),
    (3, ["RECENT", "OLDER", "OLDEST"]),
    (4, ["RECENT", "OLDER", "OLDEST", "A-NEVER"]),
    (1, ["RECENT"]),
    (0, []),
])
def test_when_the_list_does_not_fit_the_most_recently_used_come_first(
        max_size: int | None, expected: list[str]) -> None:
    entries = [tag("B-NEVER"), tag("OLDEST", 30), tag("RECENT", 1), tag("A-NEVER"),
               tag("OLDER", 5)]
    assert [e.id_tag for e in desired_list(entries, NOW, max_size).values()] == expected


def test_tokens_too_long_for_the_version_are_left_out_and_case_variants_are_one_tag() -> None:
    entries = [tag("A" * 21), tag("B" * 20), tag("C" * 36), tag("abc", 1), tag("ABC", 2),
               tag("KID", parent_id_tag="P" * 21)]
    assert list(desired_list(entries, NOW, max_token_length=20)) == ["abc", "b" * 20]
    assert len(desired_list(entries, NOW, max_token_length=36)) == 5


def entry(id_tag: str, status: ListStatus = A, parent: str | None = None) -> ListEntry:
    return ListEntry(id_tag, status, None, parent)


def held(*entries: ListEntry) -> dict[str, ListEntry]:
    return {e.id_tag.casefold(): e for e in entries}


@pytest.mark.parametrize(("before", "after", "expected"), [
    (held(), held(), []),
    (held(entry("X")), held(entry("X")), []),
    (held(), held(entry("X")), [("X", A)]),
    (held(entry("X")), held(), [("X", None)]),
    (held(entry("X")), held(entry("X", ListStatus.BLOCKED)), [("X", ListStatus.BLOCKED)]),
    (held(entry("X")), held(entry("X", parent="APT-1")), [("X", A)]),
    (held(entry("X"), entry("Y")), held(entry("Z"), entry("Y")), [("Z", A), ("X", None)]),
])
def test_differential_holds_adds_changes_and_removals(before, after, expected) -> None:
    found = [(c.id_tag, c.entry.status if c.entry else None)
             for c in differences(before, after)]
    assert found == expected


def test_a_station_whose_list_is_unknown_gets_a_full_update_split_by_its_message_limit() -> None:
    desired = held(*(entry(f"T{n}") for n in range(5)))
    messages = plan(None, desired, first_version=7, per_message=2)
    assert [(m.version, m.update_type, len(m.changes), m.part, m.parts) for m in messages] == [
        (7, UpdateType.FULL, 2, 1, 3), (8, UpdateType.DIFFERENTIAL, 2, 2, 3),
        (9, UpdateType.DIFFERENTIAL, 1, 3, 3)]
    state: dict[str, ListEntry] | None = held(entry("STALE"))
    for message in messages:
        state = applied(state, message)
    assert state == desired


@pytest.mark.parametrize(("before", "full", "expected"), [
    (None, False, [(1, UpdateType.FULL, 0)]),  # an empty full list clears the station's
    (held(entry("X")), False, [(1, UpdateType.DIFFERENTIAL, 1)]),
    (held(), False, []),
    (held(), True, [(1, UpdateType.FULL, 0)]),
])
def test_empty_lists(before, full, expected) -> None:
    messages = plan(before, held(), first_version=1, full=full)
    assert [(m.version, m.update_type, len(m.changes)) for m in messages] == expected


def test_a_differential_update_is_split_too_and_applies_in_order() -> None:
    before = held(*(entry(f"OLD{n}") for n in range(3)))
    desired = held(*(entry(f"NEW{n}") for n in range(3)))
    messages = plan(before, desired, first_version=4, per_message=4)
    assert [(m.version, m.update_type, len(m.changes)) for m in messages] == [
        (4, UpdateType.DIFFERENTIAL, 4), (5, UpdateType.DIFFERENTIAL, 2)]
    state: dict[str, ListEntry] | None = before
    for message in messages:
        state = applied(state, message)
    assert state == desired
    assert ListChange("OLD2", None) in messages[-1].changes


def test_versions_grow_past_what_was_sent_and_what_the_station_reported() -> None:
    state = LocalListState("CP-1")
    assert state.next_version == 1
    state.reported_version(41)  # a station that had a list from elsewhere
    assert (state.support, state.next_version, state.needs_full) == (Support.SUPPORTED, 42,
                                                                     True)
    messages = plan(state.held, held(entry("X")), state.next_version)
    state.versions_sent(messages)
    state.accepted(messages[0], source_revision=3)
    assert (state.acknowledged_version, state.next_version, state.needs_full) == (42, 43, False)
    state.reported_version(42)  # what it holds is what we sent
    assert not state.needs_full
    state.reported_version(5)  # reset by hand on the station: full again, versions still grow
    assert (state.needs_full, state.next_version) == (True, 43)


@pytest.mark.parametrize(("answer", "support", "needs_full"), [
    ("accepted", Support.SUPPORTED, False),
    ("lost", Support.SUPPORTED, True),
    ("not-supported", Support.NOT_SUPPORTED, True),
])
def test_answers_change_what_we_know(answer: str, support: Support, needs_full: bool) -> None:
    state = LocalListState("CP-1", support=Support.SUPPORTED, held=held(entry("X")),
                           acknowledged_version=3, last_version=3)
    message = plan(state.held, held(entry("X"), entry("Y")), state.next_version)[0]
    {"accepted": lambda: state.accepted(message, 1), "lost": state.lost_track,
     "not-supported": lambda: (state.not_supported(), state.lost_track())}[answer]()
    assert (state.support, state.needs_full) == (support, needs_full)


@pytest.mark.parametrize(("recorded", "booted_with", "support"), [
    ("1.0", "1.0", Support.NOT_SUPPORTED),  # same firmware: never asked again
    ("1.0", "2.0", Support.UNKNOWN),  # a new firmware may have brought local lists
    ("1.0", None, Support.NOT_SUPPORTED),
    (None, "2.0", Support.NOT_SUPPORTED),  # first firmware heard of: nothing new
])
def test_not_supported_is_remembered_until_a_new_firmware(recorded, booted_with,
                                                          support) -> None:
    state = LocalListState("CP-1", support=Support.NOT_SUPPORTED, firmware_version=recorded)
    state.booted(booted_with)
    assert state.support is support


def test_a_1_6_version_of_minus_one_means_no_local_list() -> None:
    state = LocalListState("CP-1")
    state.reported_version(-1)
    assert state.support is Support.NOT_SUPPORTED
