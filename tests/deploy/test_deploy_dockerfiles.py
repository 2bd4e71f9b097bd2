"""Each service's Dockerfile lints clean (hadolint) and follows the deployment contract."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy.contract import (
    HTTP_PORT_VARIABLES,
    REPO,
    SERVICE_FOLDERS,
    documented_roles,
    run_tool,
    tool_or_skip,
)

FOLDERS = sorted(SERVICE_FOLDERS)


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            pairs.append((keyword.upper(), arguments.strip()))
    return pairs


def _exec_form(arguments: str) -> list[str]:
    return json.loads(arguments[arguments.index("["):])


@pytest.mark.parametrize("folder", FOLDERS)
def test_dockerfile_lints_clean_with_hadolint(folder: str) -> None:
    hadolint = tool_or_skip("hadolint")
    result = run_tool([hadolint, "--no-color", "--failure-threshold", "info",
                       str(REPO / folder / "Dockerfile")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint step can fail: a root image with an unpinned, cached pip install is rejected."""
    hadolint = tool_or_skip("hadolint")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python app.py\n")
    result = run_tool([hadolint, "--no-color", str(bad)])
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest
    assert "DL3042" in result.stdout  # pip cache


@pytest.mark.parametrize("folder", FOLDERS)
def test_dockerfile_shape(folder: str) -> None:
    steps = _instructions(REPO / folder / "Dockerfile")
    keywords = [keyword for keyword, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")
    copies = [arguments for keyword, arguments in steps if keyword == "COPY"]
    assert copies[0].split()[0] == "pyproject.toml", "dependency layer must come first"
    first_pip = next(i for i, (k, a) in enumerate(steps) if k == "RUN" and "pip install" in a)
    second_copy = [i for i, (k, _) in enumerate(steps) if k == "COPY"][1]
    assert first_pip < second_copy, "dependencies must be installed before the code is copied"
    user = next(arguments for keyword, arguments in steps if keyword == "USER")
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    assert keywords.index("USER") < keywords.index("CMD")
    assert "HEALTHCHECK" in keywords
    environment = " ".join(arguments for keyword, arguments in steps if keyword == "ENV")
    assert "LOG_FORMAT=json" in environment


@pytest.mark.parametrize("folder", FOLDERS)
def test_dockerfile_runs_the_documented_command_and_checks_the_documented_port(
        folder: str) -> None:
    package = SERVICE_FOLDERS[folder]
    steps = dict(_instructions(REPO / folder / "Dockerfile"))
    roles = [role for role in documented_roles() if role.package == package]
    serving = next(role for role in roles if role.http_port)
    assert tuple(_exec_form(steps["CMD"])) == serving.command
    exposed = {int(port) for port in steps["EXPOSE"].split()}
    assert exposed == set(serving.ports)
    healthcheck = " ".join(_exec_form(steps["HEALTHCHECK"]))
    assert "/health" in healthcheck
    assert f"'{HTTP_PORT_VARIABLES[package]}', '{serving.http_port}'" in healthcheck


@pytest.mark.parametrize("folder", FOLDERS)
def test_dependency_layer_installs_exactly_the_pyproject_dependencies(folder: str) -> None:
    """Run the Dockerfile's requirements-extraction step as the image's shell would."""
    steps = _instructions(REPO / folder / "Dockerfile")
    step = next(arguments for keyword, arguments in steps
                if keyword == "RUN" and "requirements.txt" in arguments)
    extract = step.split(">", 1)[0].strip()
    assert extract.startswith("python ")
    result = run_tool(["/bin/sh", "-c", extract.replace("python", sys.executable, 1)],
                      cwd=REPO / folder)
    assert result.returncode == 0, result.stderr
    with (REPO / folder / "pyproject.toml").open("rb") as pyproject:
        dependencies = tomllib.load(pyproject)["project"]["dependencies"]
    assert result.stdout.splitlines() == dependencies
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in step
