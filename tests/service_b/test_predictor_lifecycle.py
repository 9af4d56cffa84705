"""The model lifecycle end to end, in-process: a training job (a real training process)
produces a version that then serves, with the examples it was trained on stored beside
it; rollback; and a restart serving the activated version."""

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from predictor.config import Settings
from predictor.main import create_app
from predictor.model import load_model
from predictor.model_store import ACTIVE_NAME, EXAMPLES_NAME, ModelStore, sha256_of
from predictor.training import parse_labelled_texts, train
from predictor.training_config import TrainingConfig
from tests.support.asgi import serve
from tests.support.lifecycle import ADMIN_HEADERS, ADMIN_TOKEN, job_reaching
from tests.support.predictor import predictor_settings, settings_with
from tests.support.tiny_dataset import SAMPLE_TEXTS

EXAMPLES = [
    {"text": "my kitten naps on the windowsill", "label": "cat"},
    {"text": 'the puppy, "Rex", digs\nin the yard', "label": "dog"},
    # A lone carriage return: the stored CSV must read back as this one row.
    {"text": "the goldfish circles\rits bowl", "label": "fish"},
]
TEXT = "the kitten purrs"


@dataclass(frozen=True)
class TrainedAndServed:
    """One training job with EXAMPLES and `activate: always`, run through the API."""

    submitted: httpx.Response
    job: dict[str, Any]
    jobs: dict[str, Any]
    prediction: dict[str, Any]
    models_dir: Path


async def train_and_serve(settings: Settings) -> TrainedAndServed:
    async with serve(create_app(settings)) as client:
        submitted = await client.post(
            "/train", json={"examples": EXAMPLES, "activate": "always"}, headers=ADMIN_HEADERS
        )
        assert submitted.status_code == 202, submitted.text
        job = await job_reaching(client, submitted.json()["job_id"])
        jobs = (await client.get("/train/jobs", headers=ADMIN_HEADERS)).json()
        prediction = (await client.post("/predict", json={"input": TEXT})).json()
    assert settings.MODEL_DIR is not None
    return TrainedAndServed(submitted, job, jobs, prediction, settings.MODEL_DIR)


@pytest.fixture(scope="module")
def trained_and_served(
    tiny_config_path: Path, four_versions: Path, tmp_path_factory: pytest.TempPathFactory
) -> TrainedAndServed:
    """An app serving v4 of a copy of `four_versions` ran one job; what came of it."""
    models_dir = Path(shutil.copytree(four_versions, tmp_path_factory.mktemp("e2e") / "models"))
    with pytest.MonkeyPatch.context() as environment:
        # Module-scoped, so built before the autouse isolation of each test: the same here.
        for variable in list(os.environ):
            if variable.upper() in Settings.model_fields:
                environment.delenv(variable)
        settings = predictor_settings(tiny_config_path, models_dir, ADMIN_TOKEN=ADMIN_TOKEN)
        return asyncio.run(train_and_serve(settings))


def test_training_request_is_answered_202_with_the_job_and_its_location(
    trained_and_served: TrainedAndServed,
) -> None:
    submitted = trained_and_served.submitted

    assert submitted.json()["status"] == "queued"
    assert submitted.json()["examples"] == len(EXAMPLES)
    assert submitted.headers["location"] == f"/train/jobs/{submitted.json()['job_id']}"


def test_training_job_succeeds_with_the_next_version(trained_and_served: TrainedAndServed) -> None:
    job = trained_and_served.job

    assert job["status"] == "succeeded", job["error"]
    assert job["version"] == "v5"
    assert job["error"] is None
    assert job["started_at"] and job["finished_at"]


def test_version_of_an_always_job_then_serves(trained_and_served: TrainedAndServed) -> None:
    assert trained_and_served.job["activation"]["activated"] is True
    assert trained_and_served.job["activation"]["reason"] == "activate is always"
    assert trained_and_served.prediction["model_version"] == "v5"


def test_activated_version_is_recorded_in_the_models_folder(
    trained_and_served: TrainedAndServed,
) -> None:
    assert ModelStore(trained_and_served.models_dir).active_version() == "v5"
    assert (trained_and_served.models_dir / ACTIVE_NAME).is_file()


def test_job_record_carries_the_metrics_of_its_version(
    trained_and_served: TrainedAndServed,
) -> None:
    metadata = ModelStore(trained_and_served.models_dir).metadata("v5")

    assert trained_and_served.job["metrics"] == metadata["metrics"]
    assert metadata["metrics"]["examples"] == len(EXAMPLES)


def test_job_list_shows_the_finished_job(trained_and_served: TrainedAndServed) -> None:
    assert trained_and_served.jobs["jobs"] == [trained_and_served.job]


def test_version_stores_the_examples_it_was_trained_on(
    trained_and_served: TrainedAndServed,
) -> None:
    stored = parse_labelled_texts(
        (trained_and_served.models_dir / "v5" / EXAMPLES_NAME).read_bytes()
    )

    assert stored.texts == [example["text"] for example in EXAMPLES]
    assert stored.labels == [example["label"] for example in EXAMPLES]


def test_version_records_the_sha256_of_its_examples(trained_and_served: TrainedAndServed) -> None:
    version_dir = trained_and_served.models_dir / "v5"

    data_sha256 = ModelStore(trained_and_served.models_dir).metadata("v5")["data_sha256"]

    assert data_sha256["examples"] == sha256_of(version_dir / EXAMPLES_NAME)
    assert set(data_sha256) == {"train", "holdout", "examples"}


def test_version_without_examples_stores_none(trained_and_served: TrainedAndServed) -> None:
    assert not (trained_and_served.models_dir / "v4" / EXAMPLES_NAME).exists()


def test_version_is_reproduced_from_its_folder(
    trained_and_served: TrainedAndServed, tiny_training_dir: Path, tmp_path: Path
) -> None:
    version_dir = trained_and_served.models_dir / "v5"
    metadata = ModelStore(trained_and_served.models_dir).metadata("v5")
    recipe = TrainingConfig.model_validate({**metadata["config"], "base_dir": tiny_training_dir})

    again = train(recipe, ModelStore(tmp_path), (version_dir / EXAMPLES_NAME).read_bytes())

    original = load_model(version_dir).pipeline.predict_proba(SAMPLE_TEXTS)
    assert np.array_equal(
        load_model(again.directory).pipeline.predict_proba(SAMPLE_TEXTS), original
    )
    assert again.metadata["data_sha256"] == metadata["data_sha256"]
    assert again.metadata["metrics"] == metadata["metrics"]


async def test_rollback_to_an_older_version_serves_it(admin_client: httpx.AsyncClient) -> None:
    rollback = await admin_client.post("/models/v2/activate", headers=ADMIN_HEADERS)

    answer = await admin_client.post("/predict", json={"input": TEXT})

    assert rollback.status_code == 200, rollback.text
    assert rollback.json()["active_version"] == "v2"
    assert rollback.json()["previous_version"] == "v4"
    assert answer.json()["model_version"] == "v2"


async def test_rolled_back_version_can_be_rolled_forward_again(
    admin_client: httpx.AsyncClient,
) -> None:
    await admin_client.post("/models/v2/activate", headers=ADMIN_HEADERS)

    forward = await admin_client.post("/models/v4/activate", headers=ADMIN_HEADERS)

    answer = await admin_client.post("/predict", json={"input": TEXT})
    assert (forward.json()["active_version"], forward.json()["previous_version"]) == ("v4", "v2")
    assert answer.json()["model_version"] == "v4"


async def test_restart_serves_the_activated_version(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    async with serve(create_app(admin_settings)) as client:
        activation = await client.post("/models/v2/activate", headers=ADMIN_HEADERS)
    assert activation.status_code == 200, activation.text

    async with serve(create_app(admin_settings)) as client:
        ready = await client.get("/ready")

    assert ready.json()["model_version"] == "v2"


async def test_start_up_serves_the_version_recorded_as_active_over_the_newest(
    settings: Settings, models_with_versions: Path
) -> None:
    ModelStore(models_with_versions).record_active("v3")

    async with serve(create_app(settings)) as client:
        ready = await client.get("/ready")

    assert ready.json()["model_version"] == "v3"


async def test_model_version_setting_wins_over_the_recorded_active_version(
    settings: Settings, models_with_versions: Path
) -> None:
    ModelStore(models_with_versions).record_active("v3")
    pinned = settings_with(settings, MODEL_VERSION="v2")

    async with serve(create_app(pinned)) as client:
        ready = await client.get("/ready")

    assert ready.json()["model_version"] == "v2"
