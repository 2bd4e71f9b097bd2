"""Reads the deployment contract (docs/architecture.md) and the compose file for the deploy tests.

docs/architecture.md is the single source of the service commands, their default ports, the
workers' metrics ports and every environment variable the services read; every deployment file
must agree with it, and the variable table must agree with the services' settings classes.
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
PROCFILE = REPO / "Procfile"
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
    metrics_port: int | None = None  # a worker's metrics-only port in the deployment files
    metrics_variable: str | None = None  # the variable that sets it

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


def _ports(cell: str) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\b(\d{2,5})\b", cell))


def documented_roles() -> list[DocumentedRole]:
    roles = []
    for role, command, port, metrics in _table_rows(ARCHITECTURE.read_text(), "Service commands"):
        command_text = re.search(r"`([^`]+)`", command)
        assert command_text, f"no command in row {role!r} of docs/architecture.md"
        metrics_ports = _ports(metrics)
        metrics_variable = re.search(r"`([A-Z][A-Z0-9_]+)`", metrics)
        assert len(metrics_ports) <= 1 and bool(metrics_ports) == bool(metrics_variable), role
        roles.append(DocumentedRole(role, tuple(command_text.group(1).split()), _ports(port),
                                    metrics_ports[0] if metrics_ports else None,
                                    metrics_variable.group(1) if metrics_variable else None))
    return roles


def documented_commands() -> set[tuple[str, ...]]:
    return {role.command for role in documented_roles()}


SERVICES = ("gateway", "save-server", "event-store", "embedded")


@dataclass(frozen=True)
class DocumentedVariable:
    """One variable of the "Environment variables" table."""

    name: str
    default: str  # the table text without backticks, e.g. "9001", "unset → SQLite …"
    meaning: str
    used_by: frozenset[str]  # names from SERVICES
    # (service, role) pairs from "save-server (api, scheduler)"; a service named without roles
    # in brackets has no pair: every role of it reads the variable
    roles: frozenset[tuple[str, str]] = frozenset()

    def read_by(self, service: str, role: str) -> bool:
        if service not in self.used_by:
            return False
        named = {name for owner, name in self.roles if owner == service}
        return not named or role in named


def _used_by(cell: str) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    services, roles = set(), set()
    if re.match(r"\s*all\b", cell):
        services |= {"gateway", "save-server", "event-store"}
    for match in re.finditer(r"\b(" + "|".join(SERVICES) + r")\b(?:\s*\(([^)]*)\))?", cell):
        services.add(match.group(1))
        for role in (match.group(2) or "").split(","):
            if role.strip():
                roles.add((match.group(1), role.strip()))
    return frozenset(services), frozenset(roles)


def documented_settings() -> dict[str, DocumentedVariable]:
    """Every documented environment variable, by name."""
    variables = {}
    for names, default, meaning, used_by in _table_rows(ARCHITECTURE.read_text(),
                                                        "Environment variables"):
        found = re.findall(r"`([A-Z][A-Z0-9_]+)`", names)
        assert found, f"no variable name in {names!r}"
        defaults = [part.strip(" `") for part in default.split(" / ")]
        services, roles = _used_by(used_by)
        assert services, f"{names}: no known service in {used_by!r}"
        for index, name in enumerate(found):
            value = defaults[index] if len(defaults) == len(found) else default.strip(" `")
            assert name not in variables, f"{name} documented twice"
            variables[name] = DocumentedVariable(name, value, meaning, services, roles)
    return variables


def documented_variables() -> dict[str, str]:
    """Environment variable name → documented default (the table text without backticks)."""
    return {name: variable.default for name, variable in documented_settings().items()}


def variables_for(package: str, role: str) -> set[str]:
    """The documented variables a role of a package reads (e.g. "save_server", "worker")."""
    service = {"ocpp_events": "gateway", "save_server": "save-server",
               "event_store": "event-store"}[package]
    return {name for name, variable in documented_settings().items()
            if variable.read_by(service, role)}


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines; a value in matching quotes loses them, as docker compose reads it."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[name.strip()] = value
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
