"""`CSMS_EMBEDDED_CONSUMER_PROCESSES`: the event workers in a child process unless turned off."""

from __future__ import annotations

import pytest

from csms_embedded.__main__ import _consumer_processes


@pytest.mark.parametrize(("value", "processes"), [
    (None, True), ("", True), ("1", True), ("yes", True),
    ("0", False), ("false", False), (" OFF ", False), ("no", False)])
def test_the_workers_run_in_a_child_process_unless_turned_off(
        monkeypatch: pytest.MonkeyPatch, value: str | None, processes: bool) -> None:
    if value is None:
        monkeypatch.delenv("CSMS_EMBEDDED_CONSUMER_PROCESSES", raising=False)
    else:
        monkeypatch.setenv("CSMS_EMBEDDED_CONSUMER_PROCESSES", value)
    assert _consumer_processes() is processes
