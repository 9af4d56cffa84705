"""What a careless or hostile client of the lifecycle API cannot do: make the predictor
look up names no folder can have, load versions without bound, reload a refused version
over and over, record as active a version a restart cannot load, or leak the admin token
to the training process; and the settings that could never work, refused at start-up."""

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from predictor import model_versions
from predictor.config import Settings
from predictor.errors import VersionBusy, VersionRefused
from predictor.model import LoadedModel, ScoringOptions, load_model
from predictor.model_store import ACTIVE_NAME, ARTIFACT_NAME, METADATA_NAME, ModelStore
from predictor.model_versions import VersionRegistry
from predictor.scoring import ModelSlot
from predictor.startup import plan_startup
from predictor.training_jobs import JOBS_FOLDER
from predictor.training_queue import child_environment
from service_common.errors import StartupError
from service_common.settings import describe_invalid_settings, secret_names
from tests.support.lifecycle import ADMIN_HEADERS, ADMIN_TOKEN
from tests.support.predictor import settings_with

TOO_LONG_VERSION = "v" + "9" * 300


def registry_of(folder: Path, cache_size: int = 2) -> VersionRegistry:
    """A registry of `folder` serving its v4."""
    slot = ModelSlot(load_model(folder / "v4", ScoringOptions("pipeline")))
    return VersionRegistry(ModelStore(folder), slot, ScoringOptions("pipeline"), cache_size)


def counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The versions the registries load from now on, in order."""
    loaded: list[str] = []

    def load(version_dir: Path, scoring: ScoringOptions) -> LoadedModel:
        loaded.append(version_dir.name)
        return load_model(version_dir, scoring)

    monkeypatch.setattr(model_versions, "load_model", load)
    return loaded


class BlockedLoads:
    """Loads of versions that start, then wait until `release()`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._started = threading.Event()
        self._released = threading.Event()
        monkeypatch.setattr(model_versions, "load_model", self._load)

    def _load(self, version_dir: Path, scoring: ScoringOptions) -> LoadedModel:
        self._started.set()
        self._released.wait(timeout=30)
        return load_model(version_dir, scoring)

    async def started(self) -> None:
        assert await asyncio.to_thread(self._started.wait, 30), "no load started"

    def release(self) -> None:
        self._released.set()


@pytest.mark.parametrize("route", ["/models/{}/predict", "/models/{}/activate"])
async def test_version_longer_than_a_folder_name_is_a_422(
    admin_client: httpx.AsyncClient, route: str
) -> None:
    response = await admin_client.post(
        route.format(TOO_LONG_VERSION), json={"input": "a kitten"}, headers=ADMIN_HEADERS
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "version"]


def test_model_version_longer_than_a_folder_name_is_refused(settings: Settings) -> None:
    with pytest.raises(ValidationError, match="MODEL_VERSION"):
        settings_with(settings, MODEL_VERSION=TOO_LONG_VERSION)


async def test_active_record_naming_an_impossible_folder_keeps_the_served_version(
    models_with_versions: Path,
) -> None:
    registry = registry_of(models_with_versions)
    (models_with_versions / ACTIVE_NAME).write_text(f'{{"version": "{TOO_LONG_VERSION}"}}')

    await registry.follow_once()

    assert registry.active_version == "v4"


async def test_loaded_version_whose_metadata_broke_is_not_activated(
    admin_client: httpx.AsyncClient, models_with_versions: Path
) -> None:
    assert (await admin_client.post("/models/v3/activate", headers=ADMIN_HEADERS)).is_success
    (models_with_versions / "v4" / METADATA_NAME).write_text("garbage")  # v4 is still loaded

    response = await admin_client.post("/models/v4/activate", headers=ADMIN_HEADERS)

    assert response.status_code == 409
    assert '"v3"' in (models_with_versions / ACTIVE_NAME).read_text()
    answer = await admin_client.post("/predict", json={"input": "a kitten"})
    assert answer.json()["model_version"] == "v3"


async def test_refused_recorded_version_is_not_loaded_again_until_its_files_change(
    models_with_versions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = registry_of(models_with_versions)
    loaded = counting_loads(monkeypatch)
    metadata = models_with_versions / "v2" / METADATA_NAME
    artifact = models_with_versions / "v2" / ARTIFACT_NAME
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    ModelStore(models_with_versions).record_active("v2")

    for _ in range(3):
        await registry.follow_once()
    assert loaded == ["v2"]

    metadata.write_text(metadata.read_text() + "\n")  # the files change: worth a new try
    await registry.follow_once()

    assert loaded == ["v2", "v2"]
    assert registry.active_version == "v4"


async def test_refused_version_is_not_loaded_again_for_each_predict_call(
    models_with_versions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = registry_of(models_with_versions)
    loaded = counting_loads(monkeypatch)
    artifact = models_with_versions / "v2" / ARTIFACT_NAME
    artifact.write_bytes(artifact.read_bytes() + b"tampered")

    for _ in range(3):
        with pytest.raises(VersionRefused):
            await registry.model_for("v2")

    assert loaded == ["v2"]


async def test_another_version_asked_for_while_one_loads_is_busy_not_queued(
    models_with_versions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = registry_of(models_with_versions)
    loads = BlockedLoads(monkeypatch)
    loading = asyncio.create_task(registry.model_for("v1"))
    try:
        await loads.started()
        with pytest.raises(VersionBusy) as busy:
            await registry.model_for("v2")
        assert busy.value.headers == {"Retry-After": "1"}
        same = asyncio.create_task(registry.model_for("v1"))  # waits for the same load
    finally:
        loads.release()
    assert (await loading).version == "v1"
    assert await same is await loading


async def test_busy_version_predict_is_answered_503_with_retry_after(
    admin_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = BlockedLoads(monkeypatch)
    first = asyncio.create_task(admin_client.post("/models/v1/predict", json={"input": "cat"}))
    try:
        await loads.started()
        response = await admin_client.post("/models/v2/predict", json={"input": "cat"})
    finally:
        loads.release()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert (await first).json()["model_version"] == "v1"


@pytest.mark.parametrize(
    "token",
    [" " * 20, "token with spaces in it", "tökentökentökentöken", "0123456789abcdef012 "],
    ids=["spaces", "inner spaces", "not ASCII", "trailing space"],
)
def test_admin_token_http_cannot_carry_is_refused(settings: Settings, token: str) -> None:
    with pytest.raises(ValidationError, match="printable ASCII") as refused:
        settings_with(settings, ADMIN_TOKEN=token)
    line = describe_invalid_settings(refused.value, secret_names(Settings))
    assert line == (
        "Invalid setting ADMIN_TOKEN: Value error, must be printable ASCII characters "
        "without spaces"
    )


def test_jobs_folder_that_is_not_a_folder_stops_start_up(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    (models_with_versions / JOBS_FOLDER).write_text("not a folder")

    with pytest.raises(StartupError, match="cannot write training job records"):
        plan_startup(admin_settings)


@pytest.mark.parametrize("name", ["ADMIN_TOKEN", "admin_token"])
def test_training_process_is_not_given_the_admin_token(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, ADMIN_TOKEN)

    environment: dict[str, Any] = child_environment()

    assert name not in environment
    assert ADMIN_TOKEN not in environment.values()
    assert environment["OMP_NUM_THREADS"] == "1"
