"""Id tag use cases on the in-memory store: monthly usage and budgets in each site's time zone,
the budget flag told to the gateways when it flips, CSV upserts, enrolment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from save_server.domain.id_tags import GroupInUse, IdTag, IdTagGroup, RunningCharge, UsageRow
from save_server.service.id_tag_csv import ImportRefused, import_csv
from save_server.service.id_tags import GroupNotFound, IdTagService, TagNotFound

from ..id_tag_memory import MemoryIdTagStore

NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)


def service(store: MemoryIdTagStore, now: datetime = NOW) -> IdTagService:
    return IdTagService(store, clock=lambda: now)


def row(key: str, wh: float | None, at: datetime, zone: str | None = None) -> UsageRow:
    return UsageRow(key, "CP-1", zone, at, wh)


def flags(store: MemoryIdTagStore, id_tag: str) -> list[bool]:
    return [e.payload["budget_exhausted"] for e in store.published
            if e.type == "id-tag-registry.tag-updated" and e.payload["id_tag"] == id_tag]


def test_usage_counts_each_charge_in_its_sites_local_month() -> None:
    store = MemoryIdTagStore()
    tags = service(store)
    tags.create_group(IdTagGroup("APTO-1", "Apto 1"), "op")
    tags.create_tag(IdTag("A1", group_id="APTO-1"), "op")
    new_year = datetime(2027, 1, 1, 1, 0, tzinfo=UTC)  # 22:00 on Dec 31 in São Paulo
    store.usage = [row("a1", 4000, new_year),                   # default zone: December
                   row("a1", 1000, new_year, "Asia/Tokyo"),     # Tokyo: January
                   row("zz", 500, new_year)]                    # unregistered
    december = tags.usage("2026-12")
    assert (december.tags["a1"].energy_kwh, december.tags["a1"].charges) == (4.0, 1)
    assert december.groups["APTO-1"].energy_kwh == 4.0
    assert december.unregistered.charges == 1
    assert tags.usage("2027-01").tags["a1"].energy_kwh == 1.0


def test_a_group_budget_flag_flips_on_and_back_off_in_the_next_month() -> None:
    store = MemoryIdTagStore()
    tags = service(store)
    tags.create_group(IdTagGroup("APTO-1", "Apto 1", monthly_budget_kwh=10), "op")
    tags.create_tag(IdTag("A1", group_id="APTO-1"), "op")
    tags.create_tag(IdTag("B2", group_id="APTO-1"), "op")
    store.usage = [row("a1", 6000, NOW), row("b2", 3999, NOW)]
    assert tags.refresh_budgets() == []  # 9.999 kWh of 10
    store.usage.append(row("b2", 1, NOW))
    assert {t.id_tag for t in tags.refresh_budgets()} == {"A1", "B2"}
    assert flags(store, "A1") == [False, True]
    assert tags.refresh_budgets() == []  # told once
    january = service(store, datetime(2027, 1, 2, 12, tzinfo=UTC))
    assert {t.id_tag for t in january.refresh_budgets()} == {"A1", "B2"}
    assert flags(store, "B2") == [False, True, False]


def test_a_running_charge_counts_against_the_tags_own_budget() -> None:
    store = MemoryIdTagStore()
    tags = service(store)
    tags.create_tag(IdTag("A1", monthly_budget_kwh=2.5), "op")
    store.usage = [row("a1", 2500, NOW)]  # a running charge's energy so far
    store.running = {"a1": [RunningCharge("CP-1", "7", NOW)]}
    assert tags.exhausted_keys([tags.tag("a1")]) == {"a1"}
    saved = tags.update_tag("A1", {"monthly_budget_kwh": 3.0}, "op")
    assert saved.budget_exhausted is False  # a change of the tag itself recomputes it


def test_a_csv_row_keeps_the_columns_it_leaves_out_and_refuses_unknown_groups() -> None:
    store = MemoryIdTagStore(sites={"S1"})
    tags = service(store)
    tags.create_tag(IdTag("A1", holder="Ana", site_ids=("S1",), max_concurrent_charges=3),
                    "op")
    result = import_csv(tags, "id_tag,status\nA1,blocked\n", "op")
    assert (result.created, result.updated) == (0, 1)
    stored = tags.tag("a1")
    assert (stored.status, stored.holder, stored.site_ids, stored.max_concurrent_charges) == (
        "blocked", "Ana", ("S1",), 3)
    with pytest.raises(ImportRefused) as refused:
        import_csv(tags, "id_tag,group_id\nB2,NOPE\n", "op")
    assert [(e.line, e.field) for e in refused.value.errors] == [(2, "group_id")]


def test_only_tokens_seen_unknown_are_enrolled() -> None:
    store = MemoryIdTagStore()
    tags = service(store)
    with pytest.raises(TagNotFound):
        tags.enroll("NEVER", "op")
    tags.record_unknown("e1", "seen1", "CP-1", NOW)
    assert tags.enroll("SEEN1", "op", holder="Apto 3").id_tag == "seen1"  # as presented
    assert [e.type for e in store.published if e.type.startswith("id-tags.")] == [
        "id-tags.tag-enrolled"]


def test_a_group_a_sites_load_management_names_is_not_deleted_until_taken_out() -> None:
    store = MemoryIdTagStore()
    tags = service(store)
    tags.create_group(IdTagGroup("APTO-1", "Apto 1"), "op")
    store.site_settings["site-1"] = ("Torre A", {"APTO-1", "APTO-2"})
    store.site_settings["site-2"] = ("Torre B", {"APTO-2"})
    with pytest.raises(GroupInUse, match=r"of site\(s\) site-1 \(Torre A\): take it out"):
        tags.delete_group("APTO-1", "op")
    assert tags.group("APTO-1") == IdTagGroup("APTO-1", "Apto 1")
    assert [e.type for e in store.published] == ["id-tags.group-created"]
    store.site_settings["site-1"] = ("Torre A", {"APTO-2"})
    tags.delete_group("APTO-1", "op")
    assert [e.type for e in store.published][-1] == "id-tags.group-deleted"
    with pytest.raises(GroupNotFound):
        tags.group("APTO-1")


def test_a_refusal_names_ten_sites_and_counts_the_others() -> None:
    sites = [(f"site-{n:02}", f"Torre {n}") for n in range(12)]
    message = str(GroupInUse.named_by_sites("APTO-1", sites))
    assert "site-09 (Torre 9) and 2 more: take it out" in message
    assert "site-10" not in message
