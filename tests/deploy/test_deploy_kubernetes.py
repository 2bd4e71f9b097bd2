"""deploy/kubernetes validates against the Kubernetes schemas and matches the service contract."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.contract import (
    KUBERNETES_DIR,
    documented_commands,
    documented_roles,
    documented_variables,
    load_yaml_documents,
    variables_for,
)

MANIFESTS = sorted(path for path in KUBERNETES_DIR.glob("*.yaml")
                   if path.name != "kustomization.yaml")


def _validator() -> ModuleType:
    try:
        import kubernetes_validate
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("kubernetes-validate is not installed (requirements-dev.txt)")
        pytest.skip("kubernetes-validate is not installed")
    return kubernetes_validate


def _validate(resource: dict[str, Any]) -> None:
    validator = _validator()
    validator.validate(resource, validator.latest_version(), strict=True)


def _resources(kind: str | None = None) -> list[dict[str, Any]]:
    found = [doc for path in MANIFESTS for doc in load_yaml_documents(path)]
    return [doc for doc in found if kind is None or doc["kind"] == kind]


def _by_name(kind: str) -> dict[str, dict[str, Any]]:
    return {resource["metadata"]["name"]: resource for resource in _resources(kind)}


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    documents = load_yaml_documents(path)
    assert documents
    for resource in documents:
        try:
            _validate(resource)
        except _validator().ValidationError as error:
            pytest.fail(f"{path.name}: {resource['kind']}: {str(error).splitlines()[0]}")


def test_the_validator_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(_by_name("Deployment")["gateway"])
    _container(deployment)["readinesProbe"] = _container(deployment).pop("readinessProbe")
    with pytest.raises(_validator().ValidationError, match="readinesProbe"):
        _validate(deployment)


def test_every_long_running_role_has_a_deployment_and_migrate_is_a_job() -> None:
    commands = {tuple(_container(d)["command"]) for d in _resources("Deployment")}
    (job,) = _resources("Job")
    migrate = tuple(_container(job)["command"])
    assert migrate == ("python", "-m", "save_server", "migrate")
    assert commands | {migrate} == documented_commands()
    assert len(commands) == len(_resources("Deployment"))


def test_http_roles_have_probes_on_the_documented_port_and_the_others_none() -> None:
    roles = {role.command: role for role in documented_roles()}
    (config_map,) = _resources("ConfigMap")
    for name, deployment in _by_name("Deployment").items():
        container = _container(deployment)
        role = roles[tuple(container["command"])]
        port = role.http_port
        if port is None and role.metrics_port is not None:
            # a worker's or the scheduler's probe server, next to its /metrics
            assert config_map["data"][role.metrics_variable] == str(role.metrics_port), name
            named = {p["name"]: p["containerPort"] for p in container["ports"]}
            liveness = container["livenessProbe"]["httpGet"]
            readiness = container["readinessProbe"]["httpGet"]
            assert (liveness["path"], named[liveness["port"]]) == ("/health", role.metrics_port)
            assert (readiness["path"], named[readiness["port"]]) == ("/ready", role.metrics_port)
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/port"] == str(role.metrics_port), name
            continue
        if port is None:
            assert "ports" not in container, name
            assert "livenessProbe" not in container and "readinessProbe" not in container, name
            continue
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        readiness = container["readinessProbe"]["httpGet"]
        liveness = container["livenessProbe"]["httpGet"]
        assert (readiness["path"], named[readiness["port"]]) == ("/ready", port), name
        assert (liveness["path"], named[liveness["port"]]) == ("/health", port), name


def test_configuration_uses_only_documented_variable_names() -> None:
    documented = set(documented_variables())
    (config_map,) = _resources("ConfigMap")
    assert set(config_map["data"]) <= documented
    assert config_map["data"]["LOG_FORMAT"] == "json"
    (secret,) = _resources("Secret")
    assert set(secret["stringData"]) <= documented
    assert all("CHANGE-ME" in value for value in secret["stringData"].values())
    for workload in _resources("Deployment") + _resources("Job"):
        container = _container(workload)
        mounted = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
        for variable in container.get("env", []):
            assert variable["name"] in documented
            if "value" in variable:  # a key file, on a volume of a Secret
                assert variable["name"].endswith("_FILE"), variable
                assert any(variable["value"].startswith(f"{path}/") for path in mounted)
                continue
            assert variable["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
        sources = container["envFrom"]
        assert sources == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]


def test_each_workload_gets_only_the_connection_urls_it_needs() -> None:
    needs = {"ocpp_events": {"AMQP_URL"}, "save_server": {"AMQP_URL", "DATABASE_URL"},
             "event_store": {"AMQP_URL", "MONGO_URL"}}
    senders = {("save_server", "api"), ("save_server", "scheduler")}  # e-mailed reports
    signing = {("save_server", "api"): {"AUTH_SIGNING_KEY_FILE", "CSMS_ADMIN_API_KEY"},
               ("event_store", "api"): {"AUTH_PUBLIC_KEYS_FILE"}}  # access tokens
    for deployment in _resources("Deployment"):
        container = _container(deployment)
        package, role = container["command"][2:4]
        names = {variable["name"] for variable in container["env"]}
        expected = (needs[package] | signing.get((package, role), set())
                    | ({"SMTP_PASSWORD"} if (package, role) in senders else set()))
        assert names == expected, deployment["metadata"]["name"]
        assert names <= variables_for(package, role), deployment["metadata"]["name"]


def test_the_smtp_password_is_an_optional_secret_reference() -> None:
    """Without SMTP auth the Secret has no SMTP_PASSWORD key, and the pods must start anyway;
    the same for the preset first admin key."""
    optional = {"SMTP_PASSWORD", "CSMS_ADMIN_API_KEY"}
    (secret,) = _resources("Secret")
    assert optional <= set(secret["stringData"])
    for deployment in _resources("Deployment"):
        for variable in _container(deployment)["env"]:
            if "value" in variable:
                continue
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["key"] == variable["name"]
            assert reference.get("optional", False) is (variable["name"] in optional)


def test_the_config_map_sets_only_values_the_services_accept() -> None:
    """Every ConfigMap value parses with the settings class of each service that reads it."""
    from event_store.config import Settings as EventStoreSettings
    from ocpp_events.config import Settings as GatewaySettings
    from save_server.config import Settings as SaveServerSettings

    (config_map,) = _resources("ConfigMap")
    data = config_map["data"]
    for settings in (GatewaySettings, SaveServerSettings, EventStoreSettings):
        fields = {name.upper() for name in settings.model_fields}
        values = {name.lower(): value for name, value in data.items() if name in fields}
        parsed = settings.model_validate(values)
        for name in values:
            assert getattr(parsed, name) is not None or data[name.upper()] == "", name


def test_services_select_existing_pods_and_named_ports() -> None:
    deployments = _by_name("Deployment")
    for name, service in _by_name("Service").items():
        selector = service["spec"]["selector"]
        matching = [d for d in deployments.values()
                    if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(matching) == 1, name
        port_names = {port["name"] for port in _container(matching[0])["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= port_names


def test_deployment_selectors_match_their_pod_labels() -> None:
    for name, deployment in _by_name("Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), name


def test_workers_scale_horizontally_and_nothing_else_does() -> None:
    deployments = _by_name("Deployment")
    targets = set()
    for autoscaler in _resources("HorizontalPodAutoscaler"):
        target = autoscaler["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        assert _container(deployments[target["name"]])["command"][3] == "worker"
        assert autoscaler["spec"]["minReplicas"] >= 1
        assert autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]
        targets.add(target["name"])
        resources = _container(deployments[target["name"]])["resources"]
        assert "cpu" in resources["requests"], "CPU utilisation needs a CPU request"
    workers = {name for name, d in deployments.items() if _container(d)["command"][3] == "worker"}
    assert targets == workers


def test_the_scheduler_never_runs_twice() -> None:
    scheduler = next(d for d in _resources("Deployment")
                     if _container(d)["command"][3] == "scheduler")
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"]["type"] == "Recreate"


def test_pods_run_as_the_images_non_root_user() -> None:
    for workload in _resources("Deployment") + _resources("Job"):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert _container(workload)["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_ingress_sends_chargers_to_the_gateway_with_websocket_friendly_timeouts() -> None:
    (ingress,) = _resources("Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 600
    gateway_service = _by_name("Service")["gateway"]
    ocpp_port = next(p for p in gateway_service["spec"]["ports"] if p["name"] == "ocpp")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "gateway"
            assert backend["port"]["name"] == ocpp_port["name"]
    assert ingress["spec"]["tls"]


def test_kustomization_lists_every_manifest_except_the_example_secret() -> None:
    (kustomization,) = load_yaml_documents(KUBERNETES_DIR / "kustomization.yaml")
    expected = {path.name for path in MANIFESTS} - {"secret.example.yaml"}
    assert set(kustomization["resources"]) == expected
