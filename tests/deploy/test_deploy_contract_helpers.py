"""The helpers the deploy tests rely on read the contract and the compose file correctly."""

from __future__ import annotations

import pytest
import yaml

from tests.deploy.contract import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    REPO,
    MissingVariable,
    documented_roles,
    documented_variables,
    interpolate,
    load_compose,
    read_env_file,
    run_tool,
    tool_or_skip,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("${A}", "a"),
    ("${MISSING}", ""),
    ("${MISSING:-fallback}", "fallback"),
    ("${EMPTY:-fallback}", "fallback"),
    ("${EMPTY-fallback}", ""),
    ("${MISSING-fallback}", "fallback"),
    ("x-${A}-${A:?needed}-y", "x-a-a-y"),
    ("$$HOME", "$HOME"),
    ("plain", "plain"),
])
def test_interpolate_follows_compose_rules(text: str, expected: str) -> None:
    assert interpolate(text, {"A": "a", "EMPTY": ""}) == expected


@pytest.mark.parametrize("text", ["${MISSING:?tell me}", "${EMPTY:?tell me}", "${MISSING?tell me}"])
def test_interpolate_refuses_a_missing_required_variable(text: str) -> None:
    with pytest.raises(MissingVariable, match="tell me"):
        interpolate(text, {"EMPTY": ""})


def test_the_contract_tables_are_read_completely() -> None:
    roles = {role.command: role.ports for role in documented_roles()}
    assert roles[("python", "-m", "ocpp_events", "serve")] == (9000, 9001)
    assert roles[("python", "-m", "save_server", "api")] == (8080,)
    assert roles[("python", "-m", "save_server", "migrate")] == ()
    assert len(roles) == 7
    variables = documented_variables()
    assert variables["GATEWAY_HTTP_PORT"] == "9001"
    assert variables["EVENT_STORE_QUEUE"] == "event-store"
    assert {"AMQP_URL", "DATABASE_URL", "MONGO_URL", "LOG_FORMAT"} <= set(variables)


def test_interpolation_matches_docker_compose_on_every_role() -> None:
    """The local-process test builds each role's environment exactly as compose does."""
    binary = tool_or_skip("docker-compose")
    result = run_tool([binary, "--project-directory", str(REPO), "-f", str(COMPOSE_FILE),
                       "--env-file", str(ENV_EXAMPLE), "config"],
                      env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(REPO)})
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    variables = read_env_file(ENV_EXAMPLE)
    for name, service in load_compose()["services"].items():
        ours = {key: interpolate(str(value), variables)
                for key, value in service["environment"].items()}
        assert ours == {key: str(value) for key, value in resolved[name]["environment"].items()}
