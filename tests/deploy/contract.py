"""Reads the deployment contract (docs/architecture.md) and the compose file for the deploy tests.

docs/architecture.md is the single source of the service commands, their default ports and the
shared environment variable names; every deployment file must agree with it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO / "docs" / "architecture.md"
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
KUBERNETES_DIR = REPO / "deploy" / "kubernetes"
SERVICE_FOLDERS = {"ocpp-events": "ocpp_events", "save-server": "save_server",
                   "event-store": "event_store"}
HTTP_PORT_VARIABLES = {"ocpp_events": "GATEWAY_HTTP_PORT", "save_server": "SAVE_SERVER_PORT",
                       "event_store": "EVENT_STORE_PORT"}


@dataclass(frozen=True)
class DocumentedRole:
    """One row of the "Service commands" table."""

    role: str
    command: tuple[str, ...]
    ports: tuple[int, ...]

    @property
    def package(self) -> str:
        return self.command[2]

    @property
    def http_port(self) -> int | None:
        """The port serving /health, /ready and /metrics (the last one the table lists)."""
        return self.ports[-1] if self.ports else None


def _table_rows(markdown: str, heading: str) -> list[list[str]]:
    section = markdown.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def documented_roles() -> list[DocumentedRole]:
    roles = []
    for role, command, port in _table_rows(ARCHITECTURE.read_text(), "Service commands"):
        command_text = re.search(r"`([^`]+)`", command)
        assert command_text, f"no command in row {role!r} of docs/architecture.md"
        ports = tuple(int(number) for number in re.findall(r"\b(\d{2,5})\b", port))
        roles.append(DocumentedRole(role, tuple(command_text.group(1).split()), ports))
    return roles


def documented_commands() -> set[tuple[str, ...]]:
    return {role.command for role in documented_roles()}


def documented_variables() -> dict[str, str]:
    """Shared environment variable name → documented default (raw table text)."""
    variables = {}
    for names, default, _used_by in _table_rows(ARCHITECTURE.read_text(),
                                                "Environment variables (shared names)"):
        found = re.findall(r"`([A-Z][A-Z0-9_]+)`", names)
        defaults = [part.strip(" `") for part in default.split(" / ")]
        for index, name in enumerate(found):
            variables[name] = defaults[index] if len(defaults) == len(found) else default
    return variables


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


class MissingVariable(ValueError):
    pass


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's variable substitution: ${V}, ${V:-default}, ${V-default}, ${V:?error}, $$."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = variables.get(name)
        if op in (":-", ":?") and value == "":
            value = None
        if value is not None:
            return value
        if op in ("-", ":-"):
            return arg
        if op in ("?", ":?"):
            raise MissingVariable(f"{name}: {arg}")
        return ""

    return _VARIABLE.sub(substitute, text)


def command_of(service: dict[str, Any]) -> tuple[str, ...]:
    command = service.get("command")
    if isinstance(command, str):
        return tuple(command.split())
    return tuple(command or ())


def tool_or_skip(name: str) -> str:
    """Path of a command-line tool: the venv's first, then PATH; fail under CI, else skip."""
    beside_python = Path(sys.executable).parent / name
    path = str(beside_python) if beside_python.exists() else shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: a missing tool is a failure)")
        pytest.skip(message)
    return path


def run_tool(args: list[str], env: dict[str, str] | None = None,
             cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
