"""Shared fixtures of the predictor's tests: a tiny dataset, config and model built in tmp."""

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from predictor_tiny_data import write_tiny_training_dir

from predictor.config import Settings
from predictor.main import create_app
from predictor.model import LoadedModel, load_model
from predictor.training import PublishedModel, TrainingConfig, train


@pytest.fixture(autouse=True)
def _isolate_settings_from_host_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment (case-insensitively); the host's must not leak in."""
    fields = {name.upper() for name in Settings.model_fields}
    for variable in list(os.environ):
        if variable.upper() in fields:
            monkeypatch.delenv(variable)


@pytest.fixture(scope="session")
def tiny_training_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the tiny dataset, holdout and training config (relative paths)."""
    folder = tmp_path_factory.mktemp("tiny_training")
    write_tiny_training_dir(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_config_path(tiny_training_dir: Path) -> Path:
    return tiny_training_dir / "training.toml"


@pytest.fixture(scope="session")
def tiny_config(tiny_config_path: Path) -> TrainingConfig:
    return TrainingConfig.from_file(tiny_config_path)


@pytest.fixture(scope="session")
def tiny_published(
    tiny_config: TrainingConfig, tmp_path_factory: pytest.TempPathFactory
) -> PublishedModel:
    """One tiny version, trained once per session; tests must not modify its folder."""
    return train(tiny_config, tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="session")
def tiny_model(tiny_published: PublishedModel) -> LoadedModel:
    return load_model(tiny_published.directory)


@pytest.fixture
def make_settings(tmp_path: Path, tiny_config_path: Path) -> Callable[..., Settings]:
    """Settings with every field that matters given explicitly; keyword arguments override."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "TRAINING_CONFIG": tiny_config_path,
            "MODEL_DIR": tmp_path / "models",
            "MODEL_VERSION": None,
            "TRAIN_IF_MISSING": True,
            "MAX_INPUT_CHARS": 200,
            "BATCHING_ENABLED": True,
            "BATCH_MAX_SIZE": 64,
            "BATCH_MAX_WAIT_MS": 0.0,
            "LOG_LEVEL": "warning",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield a client whose requests see the lifespan state."""
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        yield client


@pytest.fixture
def open_client() -> Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]:
    """`async with open_client(app) as client:` for tests that build their own app."""
    return serve


@pytest.fixture
def max_input_chars() -> int:
    """MAX_INPUT_CHARS of the `client` app; a test module can override this fixture."""
    return 200


@pytest.fixture
async def client(
    make_settings: Callable[..., Settings], tiny_model: LoadedModel, max_input_chars: int
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app serving the tiny model, with batching on."""
    app = create_app(make_settings(MAX_INPUT_CHARS=max_input_chars), model=tiny_model)
    async with serve(app) as client:
        yield client


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """An empty model folder (the default MODEL_DIR of `make_settings`)."""
    folder = tmp_path / "models"
    folder.mkdir()
    return folder
