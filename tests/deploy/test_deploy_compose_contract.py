"""docker-compose.yml runs exactly the documented commands, ports and variable names."""

from __future__ import annotations

from typing import Any

from tests.deploy.contract import (
    KUBERNETES_DIR,
    command_of,
    documented_commands,
    documented_roles,
    documented_variables,
    load_compose,
    load_yaml_documents,
    variables_for,
)

INFRASTRUCTURE = {"rabbitmq", "postgres", "mongo"}
# Which connection each package needs, and the compose service that provides it.
CONNECTIONS = {"AMQP_URL": "rabbitmq", "DATABASE_URL": "postgres", "MONGO_URL": "mongo"}


def _roles() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in load_compose()["services"].items()
            if name not in INFRASTRUCTURE}


def _container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(mapping).split(":")[-1].split("/")[0]) for mapping in service.get("ports", [])}


def test_every_role_runs_a_documented_command_and_every_command_runs() -> None:
    commands = [command_of(service) for service in _roles().values()]
    assert set(commands) <= documented_commands()
    assert set(commands) == documented_commands()
    assert len(commands) == len(set(commands)), "one compose service per role"


def test_roles_use_only_documented_environment_variables() -> None:
    documented = set(documented_variables())
    for name, service in _roles().items():
        unknown = set(service["environment"]) - documented
        assert not unknown, f"{name}: undocumented variables {unknown}"


def test_each_role_gets_only_variables_its_service_and_role_read() -> None:
    for name, service in _roles().items():
        command = command_of(service)
        foreign = set(service["environment"]) - variables_for(command[2], command[3])
        assert not foreign, f"{name}: {foreign} are not read by {' '.join(command[2:])}"


def test_the_roles_that_send_reports_or_commands_get_their_settings() -> None:
    by_role = {command_of(s)[2:]: s["environment"] for s in _roles().values()}
    mail = {"SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_SECURITY",
            "SMTP_FROM", "REPORT_ATTACHMENT_COMPRESS_BYTES"}
    for role in (("save_server", "api"), ("save_server", "scheduler")):
        assert mail <= set(by_role[role]), role
        assert by_role[role]["SMTP_PASSWORD"] == "${SMTP_PASSWORD:-}", "only from .env"
    assert {"REPORT_DEFAULT_RECIPIENTS", "REPORT_DEFAULT_CRON",
            "REPORT_DEFAULT_TIMEZONE"} <= set(by_role[("save_server", "scheduler")])
    for role, environment in by_role.items():
        if role not in (("save_server", "api"), ("save_server", "scheduler")):
            assert "SMTP_PASSWORD" not in environment, role
    api, gateway = by_role[("save_server", "api")], by_role[("ocpp_events", "serve")]
    assert api["AMQP_URL"] == gateway["AMQP_URL"], "remote commands go through the broker"
    assert api["AMQP_COMMAND_EXCHANGE"] == gateway["AMQP_COMMAND_EXCHANGE"]
    assert "SAVE_SERVER_COMMAND_TIMEOUT" in api


def test_roles_log_json() -> None:
    for name, service in _roles().items():
        assert service["environment"]["LOG_FORMAT"] == "json", name


def test_roles_listen_on_the_documented_ports() -> None:
    ports = {role.command: role.ports for role in documented_roles()}
    variables = documented_variables()
    port_variables = {"ocpp_events": ("GATEWAY_PORT", "GATEWAY_HTTP_PORT"),
                      "save_server": ("SAVE_SERVER_PORT",), "event_store": ("EVENT_STORE_PORT",)}
    for name, service in _roles().items():
        command = command_of(service)
        assert _container_ports(service) == set(ports[command]), name
        if ports[command]:
            for variable in port_variables[command[2]]:
                assert service["environment"][variable] == variables[variable], name


def test_roles_connect_to_the_compose_infrastructure_by_service_name() -> None:
    for name, service in _roles().items():
        environment = service["environment"]
        assert "AMQP_URL" in environment, name
        for variable, host in CONNECTIONS.items():
            if variable in environment:
                assert f"@{host}:" in environment[variable], name
                assert host in service["depends_on"], f"{name} must wait for {host}"


def test_save_server_roles_wait_for_the_migrations_to_complete() -> None:
    roles = _roles()
    migrate = next(n for n, s in roles.items() if command_of(s)[2:] == ("save_server", "migrate"))
    assert roles[migrate]["restart"] == "no"
    for name, service in roles.items():
        if command_of(service)[2] == "save_server" and name != migrate:
            condition = service["depends_on"][migrate]["condition"]
            assert condition == "service_completed_successfully", name


def test_restart_policies_and_health_checks() -> None:
    roles = {role.command: role for role in documented_roles()}
    http_ports = {command: role.http_port for command, role in roles.items()}
    for name, service in _roles().items():
        command = command_of(service)
        if command[3] != "migrate":
            assert service["restart"] in ("unless-stopped", "always"), name
        role = roles[command]
        port = http_ports[command]
        if port is not None:
            probe = " ".join(service["healthcheck"]["test"])
            assert f"http://127.0.0.1:{port}/health" in probe, name
        elif role.metrics_port is not None:
            # a worker's or the scheduler's probe server: /health on its metrics port
            assert service["environment"][role.metrics_variable] == str(role.metrics_port), name
            probe = " ".join(service["healthcheck"]["test"])
            assert f"http://127.0.0.1:{role.metrics_port}/health" in probe, name
        else:
            assert service["healthcheck"] == {"disable": True}, name
    for name in INFRASTRUCTURE:
        assert load_compose()["services"][name]["healthcheck"]["test"], name


def test_state_lives_in_named_volumes() -> None:
    """Infrastructure and every role with a DATA_DIR keep their files in named volumes (the
    gateway keeps no files)."""
    compose = load_compose()
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        volumes = service.get("volumes", [])
        for mount in volumes:
            assert mount.split(":")[0] in declared, f"{name}: {mount} is not a named volume"
        data_dir = service.get("environment", {}).get("DATA_DIR")
        if name in INFRASTRUCTURE or data_dir:
            targets = {mount.split(":")[1] for mount in volumes}
            assert volumes and (data_dir is None or data_dir in targets), (
                f"{name} keeps its data in the container")


def test_one_image_per_service_folder_built_from_its_own_folder() -> None:
    folders = {"ocpp_events": "./ocpp-events", "save_server": "./save-server",
               "event_store": "./event-store"}
    for name, service in _roles().items():
        package = command_of(service)[2]
        assert service["build"] == folders[package], name
        assert service["image"].startswith(f"csms/{folders[package][2:]}:"), name


def _kubernetes_grace_periods() -> dict[tuple[str, ...], int]:
    """Deployment command → its pods' terminationGracePeriodSeconds."""
    periods = {}
    for path in KUBERNETES_DIR.glob("*.yaml"):
        for doc in load_yaml_documents(path):
            if doc and doc.get("kind") == "Deployment":
                pod = doc["spec"]["template"]["spec"]
                periods[tuple(pod["containers"][0]["command"])] = (
                    pod["terminationGracePeriodSeconds"])
    return periods


def _seconds(duration: str) -> int:
    assert duration.endswith("s") and duration[:-1].isdigit(), duration
    return int(duration[:-1])


def test_each_long_running_role_gets_as_long_to_stop_as_on_kubernetes() -> None:
    periods = _kubernetes_grace_periods()
    for name, service in _roles().items():
        if service.get("restart") == "no":  # the one-shot migration
            continue
        assert "stop_grace_period" in service, f"{name}: docker's default 10 s"
        assert _seconds(service["stop_grace_period"]) == periods[command_of(service)], name


def test_the_gateway_may_finish_its_closes_calls_and_disconnect_retries_before_a_kill() -> None:
    """Its SIGTERM stop waits for closing handshakes, then for the calls in flight, whose
    disconnect events it retries while the broker is away: the grace period covers all three."""
    defaults = documented_variables()
    needed = sum(int(defaults[name]) for name in (
        "GATEWAY_CLOSE_TIMEOUT", "GATEWAY_PUBLISH_TIMEOUT", "GATEWAY_DISCONNECT_RETRY_SECONDS"))
    gateway = next(s for s in _roles().values()
                   if command_of(s) == ("python", "-m", "ocpp_events", "serve"))
    assert _seconds(gateway["stop_grace_period"]) > needed
    assert "rabbitmq" in gateway["depends_on"], "compose stops RabbitMQ only after the gateway"
