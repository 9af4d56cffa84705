"""Loading: which version is served, and which artifacts are refused."""

import json
import shutil
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
import skops.io
from fastapi import FastAPI
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from predictor.config import Settings
from predictor.errors import ModelLoadError, NoModelVersion
from predictor.main import create_app
from predictor.model import TRUSTED_TYPES, load_model, resolve_version_dir
from predictor.training import ARTIFACT_NAME, METADATA_NAME, TrainingConfig, sha256_of, train


class SmuggledTransformer(BaseEstimator, TransformerMixin):
    """A type nobody allowed: loading it would import and run code of the artifact's choice."""

    def fit(self, texts: list[str], labels: list[str] | None = None) -> "SmuggledTransformer":
        return self

    def transform(self, texts: list[str]) -> list[str]:
        return texts


def passthrough(texts: list[str]) -> list[str]:
    return texts


@pytest.fixture(scope="module")
def published_two_versions(
    tiny_config: TrainingConfig, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A model folder holding v1 and v2; tests work on copies of it."""
    folder = tmp_path_factory.mktemp("two_versions")
    train(tiny_config, folder)
    train(tiny_config, folder)
    return folder


@pytest.fixture
def versions_dir(published_two_versions: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(published_two_versions, tmp_path / "models"))


@pytest.fixture
def served_version(
    make_settings: Callable[..., Settings],
    versions_dir: Path,
    open_client: Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]],
) -> Callable[..., Awaitable[str]]:
    """The model version an app loading from `versions_dir` serves, per /ready."""

    async def served(**overrides: object) -> str:
        app = create_app(make_settings(MODEL_DIR=versions_dir, **overrides))
        async with open_client(app) as client:
            response = await client.get("/ready")
        assert response.status_code == 200, response.text
        return response.json()["model_version"]

    return served


def tamper(artifact: Path) -> None:
    with artifact.open("ab") as file:
        file.write(b"\0")


def replace_artifact(version_dir: Path, pipeline: Pipeline) -> None:
    """Swap in another artifact and update its sha256, so only the allow-list can refuse it."""
    artifact = version_dir / ARTIFACT_NAME
    skops.io.dump(pipeline, artifact)
    metadata_path = version_dir / METADATA_NAME
    metadata = json.loads(metadata_path.read_text())
    metadata["artifact_sha256"] = sha256_of(artifact)
    metadata_path.write_text(json.dumps(metadata))


def test_newest_version_is_resolved_by_default(versions_dir: Path) -> None:
    assert resolve_version_dir(versions_dir, None) == versions_dir / "v2"


def test_version_numbers_compare_as_numbers_not_text(versions_dir: Path) -> None:
    shutil.copytree(versions_dir / "v2", versions_dir / "v10")

    assert resolve_version_dir(versions_dir, None) == versions_dir / "v10"


async def test_app_serves_the_newest_version_by_default(
    served_version: Callable[..., Awaitable[str]],
) -> None:
    assert await served_version() == "v2"


async def test_model_version_setting_selects_an_older_version(
    served_version: Callable[..., Awaitable[str]],
) -> None:
    assert await served_version(MODEL_VERSION="v1") == "v1"


def test_folder_without_metadata_is_not_a_version(versions_dir: Path) -> None:
    (versions_dir / "v9").mkdir()

    assert resolve_version_dir(versions_dir, None) == versions_dir / "v2"


async def test_app_ignores_a_leftover_folder_without_metadata(
    served_version: Callable[..., Awaitable[str]], versions_dir: Path
) -> None:
    (versions_dir / "v9").mkdir()

    assert await served_version() == "v2"


def test_folder_not_named_like_a_version_is_ignored(versions_dir: Path) -> None:
    shutil.copytree(versions_dir / "v1", versions_dir / "latest")

    assert resolve_version_dir(versions_dir, None) == versions_dir / "v2"


def test_empty_model_folder_has_no_version(models_dir: Path) -> None:
    with pytest.raises(NoModelVersion):
        resolve_version_dir(models_dir, None)


def test_missing_requested_version_is_refused(versions_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="v7"):
        resolve_version_dir(versions_dir, "v7")


async def test_start_up_fails_when_the_requested_version_is_missing(
    make_settings: Callable[..., Settings],
    versions_dir: Path,
    open_client: Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    app = create_app(make_settings(MODEL_DIR=versions_dir, MODEL_VERSION="v7"))

    with pytest.raises(ModelLoadError, match="v7"):
        async with open_client(app):
            pass


def test_loaded_model_reports_its_version_and_metadata(versions_dir: Path) -> None:
    model = load_model(versions_dir / "v1")

    assert model.version == "v1"
    assert model.metadata == json.loads((versions_dir / "v1" / METADATA_NAME).read_text())


def test_tampered_artifact_is_refused_naming_sha256(versions_dir: Path) -> None:
    tamper(versions_dir / "v2" / ARTIFACT_NAME)

    with pytest.raises(ModelLoadError, match="sha256"):
        load_model(versions_dir / "v2")


async def test_start_up_fails_for_a_tampered_artifact(
    make_settings: Callable[..., Settings],
    versions_dir: Path,
    open_client: Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    tamper(versions_dir / "v2" / ARTIFACT_NAME)
    app = create_app(make_settings(MODEL_DIR=versions_dir))

    with pytest.raises(ModelLoadError, match="sha256"):
        async with open_client(app):
            pass


def test_missing_artifact_is_refused(versions_dir: Path) -> None:
    (versions_dir / "v2" / ARTIFACT_NAME).unlink()

    with pytest.raises(ModelLoadError, match="Missing artifact"):
        load_model(versions_dir / "v2")


def test_metadata_without_artifact_sha256_is_refused(versions_dir: Path) -> None:
    metadata_path = versions_dir / "v2" / METADATA_NAME
    metadata = json.loads(metadata_path.read_text())
    del metadata["artifact_sha256"]
    metadata_path.write_text(json.dumps(metadata))

    with pytest.raises(ModelLoadError, match="artifact_sha256"):
        load_model(versions_dir / "v2")


def test_unreadable_metadata_is_refused(versions_dir: Path) -> None:
    (versions_dir / "v2" / METADATA_NAME).write_text("{not json")

    with pytest.raises(ModelLoadError, match="Unreadable metadata"):
        load_model(versions_dir / "v2")


@pytest.mark.parametrize(
    ("step", "untrusted"),
    [
        (SmuggledTransformer(), "SmuggledTransformer"),
        (FunctionTransformer(func=passthrough), "passthrough"),
    ],
    ids=["custom-class", "function-reference"],
)
def test_artifact_with_a_type_outside_the_allow_list_is_refused(
    versions_dir: Path, step: object, untrusted: str
) -> None:
    served = load_model(versions_dir / "v2").pipeline
    smuggling = Pipeline([("smuggled", step), *served.steps])
    replace_artifact(versions_dir / "v2", smuggling)
    reported = skops.io.get_untrusted_types(file=versions_dir / "v2" / ARTIFACT_NAME)
    assert any(untrusted in name for name in reported)
    assert not any(untrusted in name for name in TRUSTED_TYPES)

    with pytest.raises(ModelLoadError, match=untrusted):
        load_model(versions_dir / "v2")


def test_trained_artifact_needs_only_allow_listed_types(versions_dir: Path) -> None:
    reported = skops.io.get_untrusted_types(file=versions_dir / "v2" / ARTIFACT_NAME)

    assert set(reported) <= set(TRUSTED_TYPES)
