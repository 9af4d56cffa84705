"""Both services as real processes on free loopback ports, stopped after each test."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.ports import free_port
from devkit.processes import PREDICTOR_READY_TIMEOUT, ServiceProcess
from tests.support.services import Services


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
def services(model_dir: Path, tmp_path: Path) -> Iterator[Services]:
    """The services of one test; all are stopped after it, also when it fails."""
    services = Services(model_dir, tmp_path)
    try:
        yield services
    finally:
        services.stop_all()
