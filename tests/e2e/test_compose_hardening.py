"""End to end: the compose stack's containers are hardened, read from `docker inspect` of
the running stack (the one every e2e test shares) and tried from inside each container:
a read-only root with writable places only where a service writes, no capabilities, no
privilege gain, memory, CPU and process limits, and the predictor published on loopback
only. (That each runs as a user other than root is test_compose_stack.py's
test_container_runs_as_non_root.)"""

import json
from typing import Any

import pytest

from devkit.metrics import scraped_total
from tests.support.compose import ComposeStack

pytestmark = pytest.mark.e2e

CONTAINERS = ("service_a", "service_b", "prometheus")
PYTHON_SERVICES = ("service_a", "service_b")
WRITABLE = {
    "service_a": ("/tmp",),
    "service_b": ("/tmp", "/app/models"),
    "prometheus": ("/prometheus",),
}
"""Where each container may write: its tmpfs and its volumes."""
READ_ONLY = {
    "service_a": "/app",
    "service_b": "/app",
    "prometheus": "/etc/prometheus",
}
"""A folder of each image that its root filesystem holds."""

# Creates a file in the folder argv[1] and removes it; on failure prints the errno's name.
PYTHON_WRITE = """
import errno, os, sys
path = os.path.join(sys.argv[1], ".hardening-write-check")
try:
    open(path, "w").close()
except OSError as error:
    print(errno.errorcode[error.errno])
    sys.exit(1)
os.remove(path)
"""
# The same for the Prometheus image, which has a shell but no Python.
SHELL_WRITE = ': > "$1/.hardening-write-check" && rm "$1/.hardening-write-check"'

GATEWAY_REQUESTS = 20
# Starts a second gateway in service_a's container with WORKERS=2 (its logs to stderr),
# sends it GATEWAY_REQUESTS log-only inputs, prints its /metrics and the multiprocess
# files in /tmp as JSON on stdout, and stops it.
TWO_WORKER_GATEWAY = """
import glob, json, os, signal, subprocess, sys, time, urllib.request
port, requests = sys.argv[1], int(sys.argv[2])
url = "http://127.0.0.1:" + port
env = {**os.environ, "WORKERS": "2", "PORT": port, "ACCESS_LOG": "false"}
server = subprocess.Popen([sys.executable, "main.py"], env=env, stdout=sys.stderr)
try:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    body = json.dumps({"data": "two workers", "forward_to_model": False}).encode()
    for _ in range(requests):
        request = urllib.request.Request(
            url + "/process", data=body, headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=5)
    metrics = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    files = glob.glob("/tmp/prometheus-multiproc-*/*.db")
    print(json.dumps({"metrics": metrics, "files": files}))
finally:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
"""
TWO_WORKER_PORT = "8100"

HostConfigs = dict[str, dict[str, Any]]
"""`docker inspect`'s HostConfig of each container, by service."""


@pytest.fixture(scope="module")
def host_configs(compose_stack: ComposeStack) -> HostConfigs:
    """Each container's HostConfig, inspected once for the module (it does not change
    while the stack runs)."""
    return {
        service: compose_stack.inspect_json(service, "{{json .HostConfig}}")
        for service in CONTAINERS
    }


def write_in(stack: ComposeStack, service: str, folder: str) -> tuple[int, str]:
    """Exit status and output of creating a file in `folder` inside the container."""
    if service in PYTHON_SERVICES:
        result = stack.exec(service, "python", "-c", PYTHON_WRITE, folder)
    else:
        result = stack.exec(service, "sh", "-c", SHELL_WRITE, "sh", folder)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("service", CONTAINERS)
def test_root_filesystem_is_read_only(host_configs: HostConfigs, service: str) -> None:
    assert host_configs[service]["ReadonlyRootfs"] is True


@pytest.mark.parametrize("service", CONTAINERS)
def test_every_capability_is_dropped_and_none_added(
    host_configs: HostConfigs, service: str
) -> None:
    config = host_configs[service]
    assert "ALL" in config["CapDrop"]
    assert not config["CapAdd"]


@pytest.mark.parametrize("service", CONTAINERS)
def test_no_new_privileges(host_configs: HostConfigs, service: str) -> None:
    assert "no-new-privileges:true" in host_configs[service]["SecurityOpt"]


@pytest.mark.parametrize("service", CONTAINERS)
def test_memory_cpu_and_pids_are_limited(host_configs: HostConfigs, service: str) -> None:
    config = host_configs[service]
    limits = {key: config[key] for key in ("Memory", "NanoCpus", "PidsLimit")}
    assert all(value is not None and value > 0 for value in limits.values()), limits


def test_the_predictor_has_a_lower_cpu_weight_than_the_gateway(host_configs: HostConfigs) -> None:
    shares = {service: host_configs[service]["CpuShares"] for service in CONTAINERS}
    assert 0 < shares["service_b"] < shares["service_a"] == shares["prometheus"], shares


@pytest.mark.parametrize("service", PYTHON_SERVICES)
def test_tmp_is_a_size_bounded_tmpfs(host_configs: HostConfigs, service: str) -> None:
    tmpfs = host_configs[service]["Tmpfs"] or {}
    assert "/tmp" in tmpfs, tmpfs
    assert "size=" in tmpfs["/tmp"]


def test_prometheus_keeps_its_data_in_a_named_volume(compose_stack: ComposeStack) -> None:
    mounts = compose_stack.inspect_json("prometheus", "{{json .Mounts}}")
    [data] = [mount for mount in mounts if mount["Destination"] == "/prometheus"]
    assert data["Type"] == "volume"
    assert data["Name"] == f"{compose_stack.project}_prometheus-data"


def test_service_b_is_published_on_loopback_only(host_configs: HostConfigs) -> None:
    bindings = host_configs["service_b"]["PortBindings"]["8001/tcp"]
    assert [binding["HostIp"] for binding in bindings] == ["127.0.0.1"]


def test_service_a_is_published_on_every_interface(host_configs: HostConfigs) -> None:
    bindings = host_configs["service_a"]["PortBindings"]["8000/tcp"]
    assert [binding["HostIp"] for binding in bindings] in ([""], ["0.0.0.0"])


@pytest.mark.parametrize("service", CONTAINERS)
def test_a_write_to_the_root_filesystem_fails(compose_stack: ComposeStack, service: str) -> None:
    status, output = write_in(compose_stack, service, READ_ONLY[service])
    assert status != 0
    # The read-only mount refused it, not only the permissions of the folder.
    assert "EROFS" in output or "Read-only file system" in output, output


@pytest.mark.parametrize(
    ("service", "folder"),
    [(service, folder) for service, folders in WRITABLE.items() for folder in folders],
)
def test_its_tmpfs_and_volumes_are_writable(
    compose_stack: ComposeStack, service: str, folder: str
) -> None:
    status, output = write_in(compose_stack, service, folder)
    assert status == 0, output


def test_a_two_worker_gateway_counts_every_request_from_tmp(compose_stack: ComposeStack) -> None:
    # A second gateway in the running container: same read-only root, tmpfs and limits.
    result = compose_stack.exec(
        "service_a",
        "python",
        "-c",
        TWO_WORKER_GATEWAY,
        TWO_WORKER_PORT,
        str(GATEWAY_REQUESTS),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["files"], "no multiprocess files in /tmp"
    counted = scraped_total(seen["metrics"], "http_requests_total", route="/process")
    assert counted == GATEWAY_REQUESTS
