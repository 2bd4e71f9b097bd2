"""docker-compose.yml validates with `docker-compose config` and commits no secret."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.contract import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    REPO,
    read_env_file,
    run_tool,
    tool_or_skip,
)

SECRETS = ("RABBITMQ_PASSWORD", "POSTGRES_PASSWORD", "MONGO_PASSWORD")
ROLES = {"gateway", "save-server-migrate", "save-server-api", "save-server-worker",
         "save-server-scheduler", "event-store-api", "event-store-worker"}
INFRASTRUCTURE = {"rabbitmq", "postgres", "mongo"}
URLS = {"AMQP_URL": ("rabbitmq", 5672, "s3cret-mq"),
        "DATABASE_URL": ("postgres", 5432, "s3cret-pg"),
        "MONGO_URL": ("mongo", 27017, "s3cret-mongo")}


def _compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run docker-compose with a clean environment, so the caller's variables cannot leak in."""
    binary = tool_or_skip("docker-compose")
    return run_tool([binary, "--project-directory", str(REPO), "-f", str(COMPOSE_FILE),
                     "--env-file", str(env_file), *args],
                    env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(env_file.parent)})


def test_compose_file_validates_with_the_example_env(tmp_path: Path) -> None:
    result = _compose(ENV_EXAMPLE, "config")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == ROLES | INFRASTRUCTURE
    gateway = resolved["services"]["gateway"]["environment"]
    assert gateway["AMQP_URL"] == "amqp://csms:change-me-rabbitmq@rabbitmq:5672/"


def test_compose_lists_every_role_and_the_infrastructure() -> None:
    result = _compose(ENV_EXAMPLE, "config", "--services")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == ROLES | INFRASTRUCTURE


@pytest.mark.parametrize("secret", SECRETS)
def test_compose_refuses_to_start_without_each_password(secret: str, tmp_path: Path) -> None:
    """No password has a default: leaving one out of .env stops compose with a clear message."""
    values = {name: value for name, value in read_env_file(ENV_EXAMPLE).items() if name != secret}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    result = _compose(env_file, "config", "-q")
    assert result.returncode != 0
    assert f"set {secret} in .env" in result.stderr


def test_the_password_from_env_reaches_every_connection_url(tmp_path: Path) -> None:
    values = read_env_file(ENV_EXAMPLE) | {"POSTGRES_PASSWORD": "s3cret-pg",
                                           "RABBITMQ_PASSWORD": "s3cret-mq",
                                           "MONGO_PASSWORD": "s3cret-mongo"}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    result = _compose(env_file, "config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ROLES:
        environment = services[name]["environment"]
        for variable, (host, port, password) in URLS.items():
            if variable in environment:
                url = urlsplit(environment[variable])
                assert (url.hostname, url.port, url.password) == (host, port, password)
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret-pg"
    assert services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"] == "s3cret-mq"
    assert services["mongo"]["environment"]["MONGO_INITDB_ROOT_PASSWORD"] == "s3cret-mongo"


def test_no_password_is_written_in_the_compose_file() -> None:
    text = COMPOSE_FILE.read_text()
    for match in re.finditer(r"^\s*\w*PASS\w*:\s*(\S+)", text, flags=re.MULTILINE):
        assert match.group(1).startswith("${"), f"literal secret: {match.group(0).strip()}"
    for secret in SECRETS:
        uses = re.findall(r"\$\{" + secret + r"(:?[-?])?", text)
        assert uses, f"{secret} unused"
        assert all(op in (":?", "?") for op in uses), f"{secret} must be required, not defaulted"


def test_env_files_with_real_values_are_not_tracked() -> None:
    tracked = subprocess.run(["git", "ls-files", ".env", ".env.*"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    assert tracked in ([], [".env.example"])
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO)
    assert ignored.returncode == 0, ".env must be git-ignored"


def test_the_smtp_password_from_env_reaches_only_the_roles_that_send_mail(tmp_path: Path) -> None:
    values = read_env_file(ENV_EXAMPLE) | {"SMTP_PASSWORD": "s3cret-smtp",
                                           "SMTP_USERNAME": "reports",
                                           "REPORT_DEFAULT_RECIPIENTS": "ops@example.com"}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    result = _compose(env_file, "config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    senders = {"save-server-api", "save-server-scheduler"}
    for name in ROLES:
        environment = services[name]["environment"]
        if name in senders:
            assert (environment["SMTP_PASSWORD"], environment["SMTP_USERNAME"]) == (
                "s3cret-smtp", "reports"), name
        else:
            assert "SMTP_PASSWORD" not in environment, name
    scheduler = services["save-server-scheduler"]["environment"]
    assert scheduler["REPORT_DEFAULT_RECIPIENTS"] == "ops@example.com"
    assert scheduler["REPORT_DEFAULT_CRON"] == "0 23 * * SUN"
    assert "s3cret-smtp" not in ENV_EXAMPLE.read_text() + COMPOSE_FILE.read_text()


def test_the_example_env_has_no_smtp_password_and_every_compose_variable() -> None:
    """.env.example lists every variable docker-compose.yml takes from .env (defaults shown)."""
    example = read_env_file(ENV_EXAMPLE)
    assert example["SMTP_PASSWORD"] == "", "the SMTP password is set in .env only"
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    assert used - set(example) == set(), "compose variables missing from .env.example"
    assert set(example) - used == set(), ".env.example variables compose never reads"
