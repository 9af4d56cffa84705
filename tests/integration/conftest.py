"""Both services as real processes on free loopback ports, stopped after each test."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from service_processes import (
    CONNECT_TIMEOUT,
    GATEWAY_READY_TIMEOUT,
    PREDICTOR_READY_TIMEOUT,
    ServiceProcess,
    free_port,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder with one trained version: the predictor trains it on its first start."""
    directory = tmp_path_factory.mktemp("models")
    log_dir = tmp_path_factory.mktemp("training-logs")
    trainer = ServiceProcess(
        "service_b", free_port(), {"MODEL_DIR": str(directory)}, log_dir / "service_b.log"
    )
    try:
        trainer.start().wait_until_ok("/ready", PREDICTOR_READY_TIMEOUT)
    finally:
        trainer.stop()
    return directory


@pytest.fixture
def services(model_dir: Path, tmp_path: Path) -> Iterator[Callable[[str], ServiceProcess]]:
    """Start processes by name ("service_b", "service_a"); all are stopped after the test."""
    predictor_port = free_port()
    started: list[ServiceProcess] = []
    environments = {
        "service_b": {"MODEL_DIR": str(model_dir)},
        "service_a": {
            "SERVICE_B_URL": f"http://127.0.0.1:{predictor_port}/predict",
            "SERVICE_B_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        },
    }
    ports = {"service_b": predictor_port, "service_a": free_port()}

    def start(service: str) -> ServiceProcess:
        process = ServiceProcess(
            service, ports[service], environments[service], tmp_path / f"{service}.log"
        )
        started.append(process.start())
        ready_path, timeout = (
            ("/ready", PREDICTOR_READY_TIMEOUT)
            if service == "service_b"
            else ("/health", GATEWAY_READY_TIMEOUT)
        )
        process.wait_until_ok(ready_path, timeout)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()
