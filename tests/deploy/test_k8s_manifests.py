"""deploy/k8s, rendered as `kubectl apply -k` would: every object valid against the JSON
schemas of one pinned Kubernetes version (kubernetes-validate, offline: the schemas ship
inside the package), and the properties a user relies on: hardened containers with
limits, probes, a grace period above SHUTDOWN_GRACE_S, and labels that select what they
mean to."""

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.access_settings import read_api_key_file

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = Path("deploy") / "k8s"
KUSTOMIZATIONS = [K8S_DIR / "base", *sorted((REPO_ROOT / K8S_DIR / "overlays").iterdir())]
# The one Kubernetes version the objects are checked against (kubectl is v1.32 here).
KUBERNETES_VERSION = "1.32.0"
GATEWAY = "service-a"
PREDICTOR = "service-b"
PREDICTOR_HEADLESS = "service-b-headless"
GATEWAY_LABELS = {"app.kubernetes.io/name": GATEWAY, "app.kubernetes.io/component": "gateway"}
PREDICTOR_LABELS = {
    "app.kubernetes.io/name": PREDICTOR,
    "app.kubernetes.io/component": "predictor",
}
RUN_AS = 10001
MIN_STARTUP_S = 300

Obj = dict[str, Any]


def relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT) if path.is_absolute() else path)


@pytest.fixture(scope="module", params=KUSTOMIZATIONS, ids=relative)
def rendered(request: pytest.FixtureRequest, kubectl: str) -> list[Obj]:
    """The objects of one kustomization, as `kubectl kustomize <dir>` prints them."""
    result = subprocess.run(
        [kubectl, "kustomize", relative(request.param)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    objects = [obj for obj in yaml.safe_load_all(result.stdout) if obj]
    assert objects, "kustomize rendered nothing"
    return objects


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def named(objects: list[Obj], kind: str, prefix: str) -> Obj:
    """A generated object (its name is the generator's plus a hash of the content)."""
    found = [
        obj
        for obj in objects
        if obj["kind"] == kind and obj["metadata"]["name"].startswith(prefix + "-")
    ]
    assert len(found) == 1, f"{kind}/{prefix}-<hash>: {len(found)} objects"
    return found[0]


def pod_spec(objects: list[Obj], deployment: str) -> Obj:
    spec: Obj = one(objects, "Deployment", deployment)["spec"]["template"]["spec"]
    return spec


def containers(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for deployment in (obj for obj in objects if obj["kind"] == "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield f"{deployment['metadata']['name']}/{container['name']}", container


def config_of(objects: list[Obj], deployment: str) -> dict[str, str]:
    """The settings a Deployment's first container gets from its ConfigMaps."""
    container = pod_spec(objects, deployment)["containers"][0]
    settings: dict[str, str] = {}
    for source in container.get("envFrom", []):
        settings.update(one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    return settings


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_every_object_is_valid_for_the_pinned_kubernetes(rendered: list[Obj]) -> None:
    problems = []
    for obj in rendered:
        label = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            # strict: a field the schema does not know (a typo) is an error too.
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{label}: {error.message} at {list(error.absolute_path)}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{label}: {error.message}")
    assert not problems, "\n".join(problems)


def test_the_expected_objects_are_rendered(rendered: list[Obj]) -> None:
    for kind, name in [
        ("Deployment", GATEWAY),
        ("Deployment", PREDICTOR),
        ("Service", GATEWAY),
        ("Service", PREDICTOR),
        ("Service", PREDICTOR_HEADLESS),
        ("HorizontalPodAutoscaler", PREDICTOR),
        ("PodDisruptionBudget", PREDICTOR),
        ("PodDisruptionBudget", GATEWAY),
        ("NetworkPolicy", PREDICTOR),
        ("PersistentVolumeClaim", "service-b-models"),
    ]:
        one(rendered, kind, name)


def test_every_container_is_hardened_and_limited(rendered: list[Obj]) -> None:
    for label, container in containers(rendered):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, label
        assert context["runAsNonRoot"] is True, label
        assert context["runAsUser"] == RUN_AS, label
        assert context["runAsGroup"] == RUN_AS, label
        assert context["allowPrivilegeEscalation"] is False, label
        assert context["capabilities"]["drop"] == ["ALL"], label
        assert "add" not in context["capabilities"], label
        assert context["seccompProfile"]["type"] == "RuntimeDefault", label
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["limits"].keys(), label
        assert {"cpu", "memory"} <= resources["requests"].keys(), label


def test_tmp_is_a_small_memory_backed_volume(rendered: list[Obj]) -> None:
    for deployment in (GATEWAY, PREDICTOR):
        spec = pod_spec(rendered, deployment)
        mounts = {
            mount["mountPath"]: mount["name"] for mount in spec["containers"][0]["volumeMounts"]
        }
        volume = next(volume for volume in spec["volumes"] if volume["name"] == mounts["/tmp"])
        assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Mi"}, deployment


def test_grace_period_covers_the_pre_stop_sleep_and_shutdown_grace(rendered: list[Obj]) -> None:
    for deployment in (GATEWAY, PREDICTOR):
        spec = pod_spec(rendered, deployment)
        grace_s = int(config_of(rendered, deployment)["SHUTDOWN_GRACE_S"])
        pre_stop = spec["containers"][0].get("lifecycle", {}).get("preStop", {})
        command = pre_stop.get("exec", {}).get("command", [])
        sleep_s = int(command[1]) if command[:1] == ["sleep"] else 0
        assert spec["terminationGracePeriodSeconds"] > sleep_s + grace_s, deployment


def test_predictor_waits_minutes_for_ready_before_liveness(rendered: list[Obj]) -> None:
    container = pod_spec(rendered, PREDICTOR)["containers"][0]
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/ready"
    assert startup["failureThreshold"] * startup["periodSeconds"] >= MIN_STARTUP_S
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"


def test_gateway_is_ready_on_ready_and_alive_on_health(rendered: list[Obj]) -> None:
    container = pod_spec(rendered, GATEWAY)["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"


def test_gateway_calls_the_headless_predictor_service(rendered: list[Obj]) -> None:
    settings = config_of(rendered, GATEWAY)
    assert settings["SERVICE_B_URL"] == f"http://{PREDICTOR_HEADLESS}:8001"
    assert settings["LOG_FORMAT"] == "json"
    assert config_of(rendered, PREDICTOR)["LOG_FORMAT"] == "json"


def test_gateway_reads_its_api_keys_from_a_mounted_secret(rendered: list[Obj]) -> None:
    spec = pod_spec(rendered, GATEWAY)
    keys_file = Path(config_of(rendered, GATEWAY)["API_KEYS_FILE"])
    mount = next(
        mount
        for mount in spec["containers"][0]["volumeMounts"]
        if mount["mountPath"] == str(keys_file.parent)
    )
    assert mount["readOnly"] is True
    volume = next(volume for volume in spec["volumes"] if volume["name"] == mount["name"])
    assert {"key": "keys", "path": keys_file.name} in volume["secret"]["items"]
    # The base only references the Secret; an overlay that generates it must be the one
    # the Deployment names (kustomize's hashed name).
    secrets = [obj for obj in rendered if obj["kind"] == "Secret"]
    if secrets:
        secret = one(rendered, "Secret", volume["secret"]["secretName"])
        assert "keys" in secret["data"]


def test_services_select_the_pods_of_their_deployment(rendered: list[Obj]) -> None:
    for service, deployment, port in [
        (GATEWAY, GATEWAY, 8000),
        (PREDICTOR, PREDICTOR, 8001),
        (PREDICTOR_HEADLESS, PREDICTOR, 8001),
    ]:
        spec = one(rendered, "Service", service)["spec"]
        pod_labels = one(rendered, "Deployment", deployment)["spec"]["template"]["metadata"][
            "labels"
        ]
        assert spec["selector"] and selects(spec["selector"], pod_labels), service
        assert [p["port"] for p in spec["ports"]] == [port], service
    assert one(rendered, "Service", PREDICTOR_HEADLESS)["spec"]["clusterIP"] == "None"
    assert "clusterIP" not in one(rendered, "Service", PREDICTOR)["spec"]


def test_deployment_selectors_match_their_pod_labels(rendered: list[Obj]) -> None:
    for name, labels in [(GATEWAY, GATEWAY_LABELS), (PREDICTOR, PREDICTOR_LABELS)]:
        spec = one(rendered, "Deployment", name)["spec"]
        assert spec["selector"]["matchLabels"] == labels, name
        assert selects(labels, spec["template"]["metadata"]["labels"]), name


def test_disruption_budgets_select_their_deployment(rendered: list[Obj]) -> None:
    for name, labels in [(GATEWAY, GATEWAY_LABELS), (PREDICTOR, PREDICTOR_LABELS)]:
        budget = one(rendered, "PodDisruptionBudget", name)["spec"]
        assert budget["selector"]["matchLabels"] == labels, name


def test_autoscaler_scales_the_predictor_on_cpu(rendered: list[Obj]) -> None:
    spec = one(rendered, "HorizontalPodAutoscaler", PREDICTOR)["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": PREDICTOR,
    }
    assert [metric["resource"]["name"] for metric in spec["metrics"]] == ["cpu"]
    assert spec["minReplicas"] <= spec["maxReplicas"]
    # Utilization is measured against the requests.
    assert "cpu" in pod_spec(rendered, PREDICTOR)["containers"][0]["resources"]["requests"]


def test_only_the_gateway_reaches_the_predictor(rendered: list[Obj]) -> None:
    spec = one(rendered, "NetworkPolicy", PREDICTOR)["spec"]
    assert spec["podSelector"]["matchLabels"] == PREDICTOR_LABELS
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": GATEWAY_LABELS}}],
            "ports": [{"protocol": "TCP", "port": 8001}],
        }
    ]


def test_predictor_keeps_its_models_on_the_claim(rendered: list[Obj]) -> None:
    spec = pod_spec(rendered, PREDICTOR)
    mount = next(
        mount
        for mount in spec["containers"][0]["volumeMounts"]
        if mount["mountPath"] == config_of(rendered, PREDICTOR)["MODEL_DIR"]
    )
    volume = next(volume for volume in spec["volumes"] if volume["name"] == mount["name"])
    claim = one(rendered, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    replicas = one(rendered, "Deployment", PREDICTOR)["spec"]["replicas"]
    autoscaled = one(rendered, "HorizontalPodAutoscaler", PREDICTOR)["spec"]["maxReplicas"]
    # Several replicas share one models folder only on a ReadWriteMany volume.
    if max(replicas, autoscaled) > 1:
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert spec["securityContext"]["fsGroup"] == RUN_AS


def test_local_example_api_keys_file_is_one_the_gateway_accepts() -> None:
    # The gateway parses it as it would the mounted Secret (a bad key would stop the start).
    keys = read_api_key_file(REPO_ROOT / K8S_DIR / "overlays" / "local" / "api-keys.example")
    assert [key.get_secret_value() for key in keys] == ["example-local-key-NOT-A-SECRET"]
