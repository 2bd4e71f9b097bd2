"""The Procfile (`make run-services`, honcho) runs every long-running documented role, and each
worker process gets a metrics port of its own, also when a worker type is started twice."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.contract import (
    ENV_EXAMPLE,
    PROCFILE,
    documented_commands,
    documented_roles,
    read_env_file,
)

honcho_environ = pytest.importorskip("honcho.environ")

# A stand-in for `python` on PATH: prints the metrics variables its process was started with.
FAKE_PYTHON = f"""#!{sys.executable}
import json, os, sys
names = ("SAVE_SERVER_WORKER_METRICS_PORT", "EVENT_STORE_WORKER_METRICS_PORT",
         "SAVE_SERVER_SCHEDULER_METRICS_PORT")
print(json.dumps({{"argv": sys.argv[1:], **{{n: os.environ.get(n) for n in names}}}}))
"""


def _processes() -> dict[str, str]:
    return dict(honcho_environ.parse_procfile(PROCFILE.read_text()).processes)


def _command(line: str) -> tuple[str, ...]:
    """The command after any leading NAME=value assignments."""
    words = shlex.split(line)
    while words and "=" in words[0] and words[0].split("=")[0].isidentifier():
        words.pop(0)
    return tuple(words)


def test_the_procfile_runs_every_documented_role_but_the_migration_once() -> None:
    commands = [_command(line) for line in _processes().values()]
    assert len(commands) == len(set(commands))
    migrate = ("python", "-m", "save_server", "migrate")
    assert set(commands) == documented_commands() - {migrate}  # `make run-services` migrates


def _started(tmp_path: Path, concurrency: dict[str, int]) -> dict[str, dict]:
    """Each process honcho would start, run through the shell with the fake `python`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    expanded = honcho_environ.expand_processes(_processes(), concurrency=concurrency,
                                               env={}, port=5000)
    seen = {}
    for process in expanded:
        environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", **process.env}
        done = subprocess.run(["/bin/sh", "-c", process.cmd], env=environment,
                              capture_output=True, text=True, timeout=30, check=True)
        seen[process.name] = json.loads(done.stdout)
    return seen


def test_two_processes_of_each_probed_role_get_distinct_metrics_ports(tmp_path: Path) -> None:
    """Both workers and the scheduler (which honcho could start twice too)."""
    workers = {role.command: role for role in documented_roles() if role.metrics_variable}
    assert len(workers) == 3
    names = {name: _command(line) for name, line in _processes().items()}
    concurrency = {name: 2 for name, command in names.items() if command in workers}
    assert len(concurrency) == 3
    seen = _started(tmp_path, concurrency)
    ports = []
    for name, process in seen.items():
        command = ("python", *process["argv"])
        role = workers.get(command)
        for variable in ("SAVE_SERVER_WORKER_METRICS_PORT", "EVENT_STORE_WORKER_METRICS_PORT",
                         "SAVE_SERVER_SCHEDULER_METRICS_PORT"):
            if role is not None and variable == role.metrics_variable:
                assert process[variable] and process[variable].isdigit(), name
                ports.append(int(process[variable]))
            else:
                assert process[variable] is None, f"{name} sets {variable}"
    assert len(ports) == 6 and len(set(ports)) == 6, seen


def test_the_example_env_survives_honchos_env_parser() -> None:
    """honcho reads ./.env too (`make run-services`): it must see the same values compose does."""
    compose_values = read_env_file(ENV_EXAMPLE)
    honcho_values = honcho_environ.parse(ENV_EXAMPLE.read_text())
    for name, value in honcho_values.items():
        assert value == compose_values[name], name
    missing = {name for name, value in compose_values.items() if value} - set(honcho_values)
    assert not missing


def test_make_run_services_starts_honcho_with_this_procfile() -> None:
    makefile = (PROCFILE.parent / "Makefile").read_text()
    target = makefile.split("run-services:", 1)[1].split("\n\n", 1)[0]
    assert "honcho start -f Procfile" in target
    assert "save_server migrate" in target
    assert os.access(PROCFILE, os.R_OK)
