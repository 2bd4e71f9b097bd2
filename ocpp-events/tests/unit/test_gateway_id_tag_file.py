"""The id tag copy on disk: a journal of applied messages, compacted into the base document
(the same document as `IdTagState.to_document`); loading replays the journal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ocpp_events.infrastructure import id_tag_file
from ocpp_events.infrastructure.id_tag_copy import IdTagCopy

from ..id_tag_events import active_charges, removed, snapshot, tag, updated


def journal(path: Path) -> list[dict]:
    file = path.with_name(path.name + ".journal")
    return [json.loads(line) for line in file.read_text().splitlines()] if file.exists() else []


async def settled(copy: IdTagCopy) -> None:
    task = copy._file._task
    if task is not None:
        await asyncio.wait_for(task, 5)


async def test_changes_go_to_the_journal_and_a_restart_replays_them(tmp_path) -> None:
    path = tmp_path / "id-tags.json"
    copy = IdTagCopy(path)
    events = [updated("A", revision=1), updated("B", revision=2), removed("A", revision=3),
              active_charges("b", ("CP-1", "9"), revision=4), updated("B", revision=2)]
    for event in events:
        copy.receive(json.dumps(event).encode())
    await settled(copy)
    assert not path.exists()  # no rewrite of the whole copy for a few changes
    assert [e["revision"] for e in journal(path)] == [1, 2, 3, 4]  # the repeat changed nothing
    again = IdTagCopy(path)
    assert again.state.to_document() == copy.state.to_document()
    assert again.get("a") is None and again.active_charges("B") is not None


async def test_the_journal_is_compacted_into_the_base_after_enough_lines(tmp_path) -> None:
    path = tmp_path / "id-tags.json"
    copy = IdTagCopy(path)
    copy._file = id_tag_file.IdTagFile(path, delay=0.01, compact_after=3)
    for revision in range(1, 5):
        copy.apply(updated(f"T{revision}", revision=revision, group_id="G"))
        await settled(copy)
    base = json.loads(path.read_text())
    assert sorted(t["id_tag"] for t in base["tags"]) == ["T1", "T2", "T3"]
    assert base["tags"][0] == {**tag("T1", group_id="G"), "revision": 1}
    assert [e["revision"] for e in journal(path)] == [4]
    assert IdTagCopy(path).state.to_document() == copy.state.to_document()


async def test_a_snapshot_rewrites_the_base_and_empties_the_journal(tmp_path) -> None:
    path = tmp_path / "id-tags.json"
    copy = IdTagCopy(path)
    copy.apply(updated("old", revision=1))
    await settled(copy)
    copy.apply(snapshot([{**tag("new"), "revision": 5}], 6,
                        [{"id_tag": "new", "charges": [], "revision": 6}]))
    await settled(copy)
    assert journal(path) == []
    assert json.loads(path.read_text()) == copy.state.to_document()
    assert IdTagCopy(path).get("NEW") is not None and IdTagCopy(path).get("old") is None


async def test_closing_folds_the_journal_into_the_base(tmp_path) -> None:
    path = tmp_path / "id-tags.json"
    copy = IdTagCopy(path)
    copy.apply(updated("A", revision=1, status="blocked"))
    await copy.flush()
    assert journal(path) == []
    assert json.loads(path.read_text()) == copy.state.to_document()


async def test_a_torn_last_line_is_skipped(tmp_path) -> None:
    path = tmp_path / "id-tags.json"
    copy = IdTagCopy(path)
    copy.apply(updated("A", revision=1))
    await settled(copy)
    with path.with_name(path.name + ".journal").open("ab") as out:
        out.write(b'{"type":"id-tag-registry.tag-upd')  # a crash mid-write
    assert IdTagCopy(path).get("A") is not None


async def test_an_unreadable_base_starts_empty_and_still_replays_the_journal(tmp_path) -> None:
    path = tmp_path / "id-tags.json"
    path.write_text("{not json")
    path.with_name(path.name + ".journal").write_text(json.dumps(updated("A", revision=1)))
    assert len(IdTagCopy(path)) == 1
