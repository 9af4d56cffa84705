"""Both services against their own OpenAPI documents: schemathesis, with every one of its
checks, fuzzes each running as a real process on a free loopback port (the gateway in
front of a real predictor, the predictor's admin API with a valid ADMIN_TOKEN), and finds
nothing: every answer is documented, with its status, content type, headers and body, no
valid request is refused and no invalid one accepted.

The cases are the same from run to run: a fixed seed (SCHEMA_FUZZ_SEED sets another),
one worker, and at most MAX_EXAMPLES generated cases per operation and phase. The
predictor trains on the tiny recipe, so the training jobs the fuzzer starts end in
seconds; TRAIN_QUEUE_SIZE=1 answers 429 to the rest, and the models folder they publish
to is removed after the test.
"""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from devkit.ports import free_port
from devkit.processes import GATEWAY_READY_TIMEOUT, PREDICTOR_READY_TIMEOUT, ServiceProcess
from predictor.training_config import TrainingConfig, TrainingParams
from tests.support.lifecycle import ADMIN_HEADERS, ADMIN_TOKEN, publish_versions
from tests.support.tiny_dataset import write_tiny_training_dir

pytestmark = pytest.mark.integration

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = int(os.environ.get("SCHEMA_FUZZ_SEED", "1"))
MAX_EXAMPLES = 200
RUN_TIMEOUT_S = 150.0
"""Bounds one run, whatever the service does (the README gives the usual time)."""
REQUEST_TIMEOUT_S = 10.0
TRAIN_TIMEOUT_S = 30.0
"""Kills a training job the fuzzer made slow (one on the tiny recipe ends in seconds)."""

GATEWAY_API_KEY = "fuzz-key-0123456789abcdef"
GATEWAY_ACCESS = {
    "open": ({}, {}),
    "keyed": ({"API_KEYS": GATEWAY_API_KEY}, {"X-API-Key": GATEWAY_API_KEY}),
}
"""The gateway's runs: (settings, headers sent with every request). With keys, the
document declares them, and schemathesis checks that requests without one are refused."""
PREDICTOR_HEADERS = ADMIN_HEADERS
PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(recipe, models): the tiny recipe and a folder with two versions trained from it;
    each test serves a copy."""
    recipe = write_tiny_training_dir(tmp_path_factory.mktemp("recipe"))
    models = tmp_path_factory.mktemp("published")
    publish_versions(TrainingConfig.from_file(recipe), models, [TrainingParams()] * 2)
    return recipe, models


@pytest.fixture
def predictor(published: tuple[Path, Path], tmp_path: Path) -> Iterator[ServiceProcess]:
    """A predictor process with the admin API on, serving a copy of `published`."""
    recipe, published_models = published
    models = tmp_path / "models"
    shutil.copytree(published_models, models)
    settings = {
        "MODEL_DIR": str(models),
        "TRAINING_CONFIG": str(recipe),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "TRAIN_QUEUE_SIZE": "1",
        "TRAIN_TIMEOUT_S": str(TRAIN_TIMEOUT_S),
    }
    process = ServiceProcess("service_b", free_port(), settings, tmp_path / "service_b.log")
    try:
        process.start().wait_until_ok("/ready", PREDICTOR_READY_TIMEOUT)
        yield process
    finally:
        process.stop()
        shutil.rmtree(models, ignore_errors=True)


@pytest.fixture(params=list(GATEWAY_ACCESS))
def gateway_access(request: pytest.FixtureRequest) -> tuple[dict[str, str], dict[str, str]]:
    access: tuple[dict[str, str], dict[str, str]] = GATEWAY_ACCESS[request.param]
    return access


@pytest.fixture
def gateway(
    predictor: ServiceProcess,
    gateway_access: tuple[dict[str, str], dict[str, str]],
    tmp_path: Path,
) -> Iterator[ServiceProcess]:
    """A gateway process forwarding to `predictor`, open or with an API key."""
    settings = {"SERVICE_B_URL": predictor.url, **gateway_access[0]}
    process = ServiceProcess("service_a", free_port(), settings, tmp_path / "service_a.log")
    try:
        process.start().wait_until_ok("/ready", GATEWAY_READY_TIMEOUT)
        yield process
    finally:
        process.stop()


def fuzz(service: ServiceProcess, headers: Mapping[str, str], work_dir: Path) -> str:
    """Run schemathesis with every check against `service`'s own document; its output,
    or the test fails with the output's failures and the service's log."""
    if not SCHEMATHESIS.exists():
        pytest.fail(f"{SCHEMATHESIS} is missing: install requirements-dev.txt (schemathesis)")
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{service.url}/openapi.json",
        "--checks=all",
        "--phases=examples,coverage,fuzzing,stateful",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--workers=1",
        f"--request-timeout={REQUEST_TIMEOUT_S}",
        "--generation-database=none",
        "--no-color",
    ]
    for name, value in headers.items():
        command.append(f"--header={name}: {value}")
    # Straight to loopback, whatever proxy the machine has.
    environment = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    result = subprocess.run(
        command,
        cwd=work_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    failures = output[output.find("FAILURES") :] if "FAILURES" in output else output[-6000:]
    assert result.returncode == 0, (
        f"schemathesis exited {result.returncode}:\n{failures}\n"
        f"{service.service} log:\n{service.log_tail()}"
    )
    return output


def every_operation_tested(output: str) -> bool:
    """Whether the run's summary says it tested every operation of the document."""
    counts = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", output)
    return counts is not None and len(set(counts.groups())) == 1


def test_predictor_answers_as_its_openapi_document_says(
    predictor: ServiceProcess, tmp_path: Path
) -> None:
    output = fuzz(predictor, PREDICTOR_HEADERS, tmp_path)

    assert "No issues found" in output
    assert every_operation_tested(output)  # the admin routes, /train included


def test_gateway_answers_as_its_openapi_document_says(
    gateway: ServiceProcess,
    gateway_access: tuple[dict[str, str], dict[str, str]],
    tmp_path: Path,
) -> None:
    output = fuzz(gateway, gateway_access[1], tmp_path)

    assert "No issues found" in output
    assert every_operation_tested(output)
