"""docs/architecture.md's variable table is exactly what the services' settings classes read."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from tests.deploy.contract import REPO, DocumentedVariable, documented_settings

SETTINGS = {"gateway": "ocpp_events.config", "save-server": "save_server.config",
            "event-store": "event_store.config"}
# The embedded launcher reads these with os.environ (embedded/src/csms_embedded/__main__.py).
EMBEDDED = {"DATA_DIR", "GATEWAY_PORT", "GATEWAY_HTTP_PORT", "SAVE_SERVER_PORT",
            "EVENT_STORE_PORT", "CSMS_LOG_FILE", "CSMS_LOG_MAX_BYTES", "CSMS_LOG_BACKUPS",
            "CSMS_EMBEDDED_CONSUMER_PROCESSES", "CSMS_EMBEDDED_CONSUMER_NICE",
            "CSMS_SWITCH_INTERVAL_MS", "CSMS_GC_THRESHOLD", "MALLOC_ARENA_MAX"}


def _settings_class(module_name: str) -> type[BaseSettings]:
    module = __import__(module_name, fromlist=["Settings"])
    return module.Settings


def _read_by(service: str) -> dict[str, FieldInfo]:
    settings = _settings_class(SETTINGS[service])
    assert settings.model_config.get("env_prefix", "") == "", "a prefix changes every name"
    return {name.upper(): field for name, field in settings.model_fields.items()}


def _matches(documented: str, field: FieldInfo) -> bool:
    """The documented default (table text) says what the field's default is."""
    if field.default_factory is not None:
        return documented.startswith("random")
    default: Any = field.default
    assert default is not PydanticUndefined, "a required setting needs its own rule here"
    if default is None:
        return documented.startswith("unset")
    if default == "":
        return documented == "empty"
    if isinstance(default, bool):
        return documented == str(default).lower()
    if isinstance(default, int | float):
        try:
            return float(documented) == float(default)
        except ValueError:
            return False
    if isinstance(default, Path):
        return Path(documented) == default
    return documented == str(default)


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_setting_of_each_service_is_documented_with_its_default(service: str) -> None:
    documented = documented_settings()
    for name, field in _read_by(service).items():
        assert name in documented, f"{service} reads {name}, docs/architecture.md lacks it"
        variable = documented[name]
        assert service in variable.used_by, f"{name}: 'used by' does not name {service}"
        assert _matches(variable.default, field), (
            f"{name}: documented default {variable.default!r}, code {field.default!r}")


def test_every_documented_variable_is_read_by_the_services_it_names() -> None:
    read = {service: set(_read_by(service)) for service in SETTINGS}
    for name, variable in documented_settings().items():
        for service in variable.used_by:
            if service == "embedded":
                assert name in EMBEDDED, f"{name}: the embedded launcher does not read it"
            else:
                assert name in read[service], f"{name}: {service} does not read it"


def test_the_embedded_launcher_reads_exactly_the_listed_variables() -> None:
    source = (REPO / "embedded" / "src" / "csms_embedded" / "__main__.py").read_text()
    names = {node.value for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and re.fullmatch(r"[A-Z][A-Z0-9_]+", node.value)}
    assert names == EMBEDDED


def test_no_other_module_reads_the_environment_directly() -> None:
    """Settings come from the settings classes (and the launcher), so the table sees them all."""
    launcher = REPO / "embedded" / "src" / "csms_embedded" / "__main__.py"
    for path in sorted(REPO.glob("*/src/**/*.py")):
        if path == launcher:
            continue
        text = path.read_text()
        assert not re.search(r"os\.environ|os\.getenv|getenv\(", text), path
        if "BaseSettings" in text:
            assert path.name == "config.py", f"{path}: a settings class outside config.py"


def test_the_default_matcher_can_fail() -> None:
    field = FieldInfo(default=8080)
    assert _matches("8080", field)
    assert not _matches("8081", field)
    assert not _matches("unset", field)
    assert _matches("unset", FieldInfo(default=None))
    assert not _matches("empty", FieldInfo(default="x"))
    variable = documented_settings()["SMTP_PASSWORD"]
    assert variable == DocumentedVariable("SMTP_PASSWORD", variable.default, variable.meaning,
                                          frozenset({"save-server"}),
                                          frozenset({("save-server", "api"),
                                                     ("save-server", "scheduler")}))
    command_exchange = documented_settings()["AMQP_COMMAND_EXCHANGE"]
    assert command_exchange.read_by("gateway", "serve")
    assert command_exchange.read_by("save-server", "api")
    assert not command_exchange.read_by("save-server", "worker")
    assert not command_exchange.read_by("event-store", "api")


def test_the_readme_configuration_table_agrees_with_the_full_table() -> None:
    """README.md keeps a short table; each name in it exists with the same default."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "docs/architecture.md" in section
    documented = documented_settings()
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows
    for row in rows:
        names_cell, default_cell = [cell.strip() for cell in row.strip("|").split("|")][:2]
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", names_cell)
        defaults = [part.strip(" `") for part in default_cell.split(", ")]
        for index, name in enumerate(names):
            assert name in documented, f"README names {name}, docs/architecture.md does not"
            if len(defaults) != len(names):
                continue
            short, full = defaults[index], documented[name].default
            if short.startswith(("—", "unset")):
                assert full.startswith("unset"), name
            else:  # "unset → X" in the full table: X is what the README may show
                effective = full.split("→", 1)[-1].strip(" `")
                assert short in (full, effective), (
                    f"{name}: README {short!r}, docs/architecture.md {full!r}")
