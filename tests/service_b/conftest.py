"""Fixtures of the predictor's tests: a tiny dataset, config and model built in tmp."""

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from predictor.config import Settings
from predictor.main import create_app
from predictor.model import LoadedModel, load_model
from predictor.model_store import ModelStore, PublishedModel
from predictor.training import train
from predictor.training_config import TrainingConfig, TrainingParams
from tests.support.asgi import serve
from tests.support.lifecycle import ADMIN_TOKEN, WEAK_PARAMS, BlockableRecipe, publish_versions
from tests.support.predictor import predictor_settings, settings_with
from tests.support.tiny_dataset import write_tiny_training_dir


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
    return train(tiny_config, ModelStore(tmp_path_factory.mktemp("tiny_models")))


@pytest.fixture(scope="session")
def tiny_model(tiny_published: PublishedModel) -> LoadedModel:
    return load_model(tiny_published.directory)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """An empty model folder, the MODEL_DIR of `settings`."""
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(tiny_config_path: Path, models_dir: Path) -> Settings:
    """The tiny training config, an empty model folder, MAX_INPUT_CHARS 200, batching on."""
    return predictor_settings(tiny_config_path, models_dir)


@pytest.fixture
async def client(settings: Settings, tiny_model: LoadedModel) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app serving the tiny model with `settings`."""
    async with serve(create_app(settings, model=tiny_model)) as client:
        yield client


@pytest.fixture(scope="session")
def four_versions(tiny_config: TrainingConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder holding v1, from a weak recipe (holdout accuracy 0.8), and v2 to v4,
    from the tiny recipe (1.0); tests work on copies of it."""
    folder = tmp_path_factory.mktemp("four_versions")
    publish_versions(tiny_config, folder, [WEAK_PARAMS, *[TrainingParams()] * 3])
    return folder


@pytest.fixture
def models_with_versions(models_dir: Path, four_versions: Path) -> Path:
    """`models_dir` (the MODEL_DIR of `settings`) holding a copy of `four_versions`."""
    shutil.copytree(four_versions, models_dir, dirs_exist_ok=True)
    return models_dir


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    """`settings` with the admin API on (ADMIN_TOKEN set)."""
    return settings_with(settings, ADMIN_TOKEN=ADMIN_TOKEN)


@pytest.fixture
async def admin_client(
    admin_settings: Settings, models_with_versions: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with the admin API on, serving v4 of `models_with_versions`."""
    async with serve(create_app(admin_settings)) as client:
        yield client


@pytest.fixture
def blockable_recipe(tmp_path: Path) -> Iterator[BlockableRecipe]:
    """A copy of the tiny recipe and its data whose training processes a test can hold
    back; released after the test."""
    folder = tmp_path / "recipe"
    folder.mkdir()
    recipe = BlockableRecipe(write_tiny_training_dir(folder))
    try:
        yield recipe
    finally:
        recipe.release()
