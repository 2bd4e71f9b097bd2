"""`make test`'s browser step: present → 0; missing and not installable → 2 with the command;
missing as root with apt-get → installs."""

from __future__ import annotations

from typing import Any

import pytest

from tests import browser_ready


def test_a_present_browser_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser_ready.os, "access", lambda path, mode: True)
    assert browser_ready.main() == 0


def test_a_missing_browser_without_root_stops_with_the_command(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(browser_ready.os, "access", lambda path, mode: False)
    monkeypatch.setattr(browser_ready.os, "geteuid", lambda: 1000)
    assert browser_ready.main() == 2
    assert "apt-get install -y --no-install-recommends chromium" in capsys.readouterr().err


def test_a_missing_browser_as_root_is_installed_with_apt_get(
        monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[list[str]] = []
    monkeypatch.setattr(browser_ready.os, "geteuid", lambda: 0)
    monkeypatch.setattr(browser_ready.shutil, "which", lambda name: f"/usr/bin/{name}")

    def run(command: list[str], **_: Any) -> Any:
        installed.append(command)
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(browser_ready.subprocess, "run", run)
    monkeypatch.setattr(browser_ready.os, "access", lambda path, mode: bool(installed))
    assert browser_ready.main() == 0
    assert installed == [browser_ready.INSTALL]
