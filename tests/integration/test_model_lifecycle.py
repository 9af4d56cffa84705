"""The model lifecycle across real predictor processes sharing one models folder: an
activation on one is followed by the other, a restart serves the activated version, a
job that a crash cut short is marked failed when the predictor starts again, and the
admin token never reaches the service log."""

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from devkit.ports import free_port
from devkit.processes import PREDICTOR_READY_TIMEOUT, ServiceProcess
from predictor.training_config import TrainingConfig, TrainingParams
from predictor.training_jobs import INTERRUPTED
from tests.support.lifecycle import (
    ADMIN_HEADERS,
    ADMIN_TOKEN,
    BlockableRecipe,
    publish_versions,
    sync_job_reaching,
)
from tests.support.tiny_dataset import write_tiny_training_dir

pytestmark = pytest.mark.integration

MODEL_POLL_S = 0.2
FOLLOW_GUARD_S = 30.0  # an activation is followed within MODEL_POLL_S; this bounds a bug
TEXT = {"input": "the kitten purrs"}


@dataclass
class Predictors:
    """Predictor processes on one models folder (with v1 and v2) and the tiny recipe, the
    admin API on; `stop_all` stops every one started."""

    recipe: Path
    models_dir: Path
    log_dir: Path
    started: list[ServiceProcess] = field(default_factory=list)

    def start(self, name: str) -> ServiceProcess:
        """Start one, logging to `<name>.log`, and wait until it is ready."""
        settings = {
            "MODEL_DIR": str(self.models_dir),
            "TRAINING_CONFIG": str(self.recipe),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "MODEL_POLL_S": str(MODEL_POLL_S),
            "LOG_LEVEL": "info",
        }
        process = ServiceProcess("service_b", free_port(), settings, self.log_dir / f"{name}.log")
        self.started.append(process.start())
        process.wait_until_ok("/ready", PREDICTOR_READY_TIMEOUT)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


@pytest.fixture
def predictors(tmp_path: Path) -> Iterator[Predictors]:
    recipe_dir = tmp_path / "recipe"
    recipe_dir.mkdir()
    recipe = write_tiny_training_dir(recipe_dir)
    models_dir = tmp_path / "models"
    publish_versions(TrainingConfig.from_file(recipe), models_dir, [TrainingParams()] * 2)
    predictors = Predictors(recipe, models_dir, tmp_path)
    try:
        yield predictors
    finally:
        predictors.stop_all()


def client_of(process: ServiceProcess) -> httpx.Client:
    return httpx.Client(base_url=process.url, timeout=10.0, trust_env=False)


def version_answered(http: httpx.Client) -> str:
    response = http.post("/predict", json=TEXT)
    assert response.status_code == 200, response.text
    version: str = response.json()["model_version"]
    return version


def version_answered_once_it_is(http: httpx.Client, wanted: str) -> str:
    """The version /predict answers with, polled until it is `wanted` or FOLLOW_GUARD_S."""
    deadline = time.monotonic() + FOLLOW_GUARD_S
    version = version_answered(http)
    while version != wanted and time.monotonic() < deadline:
        time.sleep(MODEL_POLL_S / 4)
        version = version_answered(http)
    return version


def test_second_predictor_follows_an_activation_made_on_the_first(
    predictors: Predictors,
) -> None:
    first, second = predictors.start("first"), predictors.start("second")
    with client_of(first) as on_first, client_of(second) as on_second:
        before = version_answered(on_second)
        activation = on_first.post("/models/v1/activate", headers=ADMIN_HEADERS)

        followed = version_answered_once_it_is(on_second, "v1")

    assert before == "v2"
    assert activation.status_code == 200, activation.text
    assert followed == "v1"


def test_restart_serves_the_version_activated_before(predictors: Predictors) -> None:
    first = predictors.start("first")
    with client_of(first) as http:
        activation = http.post("/models/v1/activate", headers=ADMIN_HEADERS)
    assert activation.status_code == 200, activation.text
    first.stop()

    restarted = predictors.start("restarted")

    with client_of(restarted) as http:
        assert version_answered(http) == "v1"
        assert http.get("/ready").json()["model_version"] == "v1"


def test_job_cut_short_by_a_crash_is_failed_as_interrupted_after_a_restart(
    predictors: Predictors,
) -> None:
    recipe = BlockableRecipe(predictors.recipe)
    try:
        crashed = predictors.start("crashed")
        recipe.block()  # its training process waits to read the recipe: the job runs on
        with client_of(crashed) as http:
            submitted = http.post("/train", json={"activate": "always"}, headers=ADMIN_HEADERS)
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["job_id"]
            sync_job_reaching(http, job_id, ("running",))
        recipe.wait_for_reader()
        crashed.kill()
    finally:
        recipe.release()  # and the orphaned training process ends, publishing nothing

    restarted = predictors.start("restarted")

    with client_of(restarted) as http:
        job = http.get(f"/train/jobs/{job_id}", headers=ADMIN_HEADERS).json()
        assert version_answered(http) == "v2"
    assert (job["status"], job["error"]) == ("failed", INTERRUPTED)
    assert job["finished_at"] is not None


def test_admin_token_never_appears_in_the_service_log(predictors: Predictors) -> None:
    predictor = predictors.start("predictor")
    with client_of(predictor) as http:
        http.get("/models", headers={"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"})
        http.get("/models", headers={"Authorization": f"Basic {ADMIN_TOKEN}"})
        http.post("/models/v1/activate", headers=ADMIN_HEADERS)
        submitted = http.post("/train", json={"activate": "never"}, headers=ADMIN_HEADERS)
        job = sync_job_reaching(http, submitted.json()["job_id"])
    predictor.stop()

    log = predictor.log_text()
    assert job["status"] == "succeeded", job["error"]
    assert "Activated model v1" in log and "POST /train" in log  # the log has the admin calls
    assert ADMIN_TOKEN not in log
    assert ADMIN_TOKEN[:16] not in log
