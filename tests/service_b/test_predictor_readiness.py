"""Readiness before and after the first model is trained and loaded at start-up."""

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from predictor import training
from predictor.config import Settings
from predictor.main import create_app
from predictor.model_store import METADATA_NAME
from service_common.errors import StartupError
from tests.support.asgi import serve
from tests.support.predictor import settings_with

READY_WITHIN_SECONDS = 20


@pytest.fixture
def release_training(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Start-up training waits for this event, so "before" is observable for sure."""
    release = threading.Event()
    real_train = training.train

    def gated_train(*args: Any, **kwargs: Any) -> Any:
        release.wait(timeout=READY_WITHIN_SECONDS)
        return real_train(*args, **kwargs)

    monkeypatch.setattr("predictor.startup.train", gated_train)
    return release


@pytest.fixture
async def starting_client(
    settings: Settings,
    models_dir: Path,
    release_training: threading.Event,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with no injected model and an empty model folder."""
    app = create_app(settings)
    try:
        async with serve(app) as client:
            yield client
    finally:
        release_training.set()


async def wait_until_ready(client: httpx.AsyncClient) -> httpx.Response:
    async with asyncio.timeout(READY_WITHIN_SECONDS):
        # Polling is the point: this is what a load balancer's readiness probe does.
        while (response := await client.get("/ready")).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return response


async def test_health_is_ok_before_a_model_is_loaded(starting_client: httpx.AsyncClient) -> None:
    response = await starting_client.get("/health")

    assert response.status_code == 200


async def test_ready_is_503_before_a_model_is_loaded(starting_client: httpx.AsyncClient) -> None:
    response = await starting_client.get("/ready")

    assert response.status_code == 503
    assert response.json() == {"detail": "Model is not loaded yet"}


async def test_predict_is_503_before_a_model_is_loaded(
    starting_client: httpx.AsyncClient,
) -> None:
    response = await starting_client.post("/predict", json={"input": "a cat"})

    assert response.status_code == 503
    assert response.json() == {"detail": "Model is not loaded yet"}


async def test_model_metadata_is_503_before_a_model_is_loaded(
    starting_client: httpx.AsyncClient,
) -> None:
    response = await starting_client.get("/model")

    assert response.status_code == 503


async def test_root_reports_loading_before_a_model_is_loaded(
    starting_client: httpx.AsyncClient,
) -> None:
    response = await starting_client.get("/")

    assert response.status_code == 200
    assert response.json() == {"service": "service_b", "status": "loading", "model_version": None}


async def test_ready_becomes_200_once_start_up_training_has_published_v1(
    starting_client: httpx.AsyncClient, release_training: threading.Event, models_dir: Path
) -> None:
    release_training.set()

    response = await wait_until_ready(starting_client)

    assert response.json() == {"status": "ready", "model_version": "v1", "scoring_path": "compiled"}
    assert (models_dir / "v1" / METADATA_NAME).is_file()


async def test_predict_answers_once_start_up_training_has_finished(
    starting_client: httpx.AsyncClient, release_training: threading.Event
) -> None:
    release_training.set()
    await wait_until_ready(starting_client)

    response = await starting_client.post("/predict", json={"input": "a cat"})

    assert response.status_code == 200
    assert response.json()["model_version"] == "v1"


async def test_start_up_without_a_model_and_without_training_fails(
    settings: Settings,
    models_dir: Path,
) -> None:
    app = create_app(settings_with(settings, TRAIN_IF_MISSING=False))

    with pytest.raises(StartupError, match="TRAIN_IF_MISSING is false"):
        async with serve(app):
            pass
