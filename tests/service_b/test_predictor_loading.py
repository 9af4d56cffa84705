"""Loading: which version is served, and which artifacts are refused."""

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import skops.io
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from predictor.artifact import ALLOWED_TYPES, TRUSTED_TYPES, types_in
from predictor.config import Settings
from predictor.errors import ModelLoadError, NoModelVersion
from predictor.main import create_app
from predictor.model import load_model
from predictor.model_store import ARTIFACT_NAME, METADATA_NAME, ModelStore, sha256_of
from predictor.training import train
from predictor.training_config import TrainingConfig
from service_common.errors import StartupError
from tests.support.asgi import serve
from tests.support.predictor import settings_with


class SmuggledTransformer(BaseEstimator, TransformerMixin):  # type: ignore[misc]
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
    train(tiny_config, ModelStore(folder))
    train(tiny_config, ModelStore(folder))
    return folder


@pytest.fixture
def versions_dir(published_two_versions: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(published_two_versions, tmp_path / "versions"))


async def served_version(settings: Settings, versions_dir: Path, **overrides: Any) -> str:
    """The model version an app loading from `versions_dir` serves, per /ready."""
    app = create_app(settings_with(settings, MODEL_DIR=versions_dir, **overrides))
    async with serve(app) as client:
        response = await client.get("/ready")
    assert response.status_code == 200, response.text
    version: str = response.json()["model_version"]
    return version


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
    assert ModelStore(versions_dir).version_dir(None) == versions_dir / "v2"


def test_version_numbers_compare_as_numbers_not_text(versions_dir: Path) -> None:
    shutil.copytree(versions_dir / "v2", versions_dir / "v10")

    assert ModelStore(versions_dir).version_dir(None) == versions_dir / "v10"


async def test_app_serves_the_newest_version_by_default(
    settings: Settings, versions_dir: Path
) -> None:
    assert await served_version(settings, versions_dir) == "v2"


async def test_model_version_setting_selects_an_older_version(
    settings: Settings, versions_dir: Path
) -> None:
    assert await served_version(settings, versions_dir, MODEL_VERSION="v1") == "v1"


def test_folder_without_metadata_is_not_a_version(versions_dir: Path) -> None:
    (versions_dir / "v9").mkdir()

    assert ModelStore(versions_dir).version_dir(None) == versions_dir / "v2"


async def test_app_ignores_a_leftover_folder_without_metadata(
    settings: Settings, versions_dir: Path
) -> None:
    (versions_dir / "v9").mkdir()

    assert await served_version(settings, versions_dir) == "v2"


def test_folder_not_named_like_a_version_is_ignored(versions_dir: Path) -> None:
    shutil.copytree(versions_dir / "v1", versions_dir / "latest")

    assert ModelStore(versions_dir).version_dir(None) == versions_dir / "v2"


def test_empty_model_folder_has_no_version(models_dir: Path) -> None:
    with pytest.raises(NoModelVersion):
        ModelStore(models_dir).version_dir(None)


def test_missing_requested_version_is_refused(versions_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="v7"):
        ModelStore(versions_dir).version_dir("v7")


async def test_start_up_fails_when_the_requested_version_is_missing(
    settings: Settings,
    versions_dir: Path,
) -> None:
    app = create_app(settings_with(settings, MODEL_DIR=versions_dir, MODEL_VERSION="v7"))

    with pytest.raises(StartupError, match=r"MODEL_VERSION=v7: .*\(published: v1, v2\)"):
        async with serve(app):
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
    settings: Settings,
    versions_dir: Path,
) -> None:
    tamper(versions_dir / "v2" / ARTIFACT_NAME)
    app = create_app(settings_with(settings, MODEL_DIR=versions_dir))

    with pytest.raises(StartupError, match="sha256"):
        async with serve(app):
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


def edit_metadata(version_dir: Path, change: Callable[[dict[str, Any]], object]) -> None:
    path = version_dir / METADATA_NAME
    metadata = json.loads(path.read_text())
    written = change(metadata)
    path.write_text(json.dumps(metadata if written is None else written))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda metadata: [], "not a JSON object"),
        (lambda metadata: metadata.pop("version") and None, "version"),
        (lambda metadata: metadata.pop("created_at") and None, "created_at"),
        (lambda metadata: metadata.pop("classes") and None, "classes"),
        (lambda metadata: metadata.update(created_at="yesterday"), "created_at"),
        (lambda metadata: metadata.update(version="v1"), "version 'v1' in folder v2"),
        (lambda metadata: metadata.update(version="latest"), "version"),
    ],
    ids=[
        "a list",
        "no version",
        "no created_at",
        "no classes",
        "bad date",
        "other folder",
        "bad version",
    ],
)
def test_incomplete_or_wrong_metadata_is_refused_naming_the_field(
    versions_dir: Path, change: Callable[[dict[str, Any]], object], named: str
) -> None:
    edit_metadata(versions_dir / "v2", change)

    with pytest.raises(ModelLoadError, match=re.escape(named)):
        load_model(versions_dir / "v2")


def test_model_whose_classes_differ_from_its_metadata_is_refused(versions_dir: Path) -> None:
    edit_metadata(versions_dir / "v2", lambda metadata: metadata.update(classes=["cat", "dog"]))

    with pytest.raises(ModelLoadError, match="predicts"):
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
    assert types_in(versions_dir / "v2" / ARTIFACT_NAME) <= ALLOWED_TYPES


def test_artifact_with_a_type_skops_trusts_but_the_service_does_not_is_refused(
    versions_dir: Path,
) -> None:
    # skops' own defaults trust StandardScaler: it would load, then fail on every text.
    served = load_model(versions_dir / "v2").pipeline
    replace_artifact(versions_dir / "v2", Pipeline([("scale", StandardScaler()), *served.steps]))
    assert skops.io.get_untrusted_types(file=versions_dir / "v2" / ARTIFACT_NAME) == []

    with pytest.raises(ModelLoadError, match="StandardScaler"):
        load_model(versions_dir / "v2")


def test_model_that_cannot_score_a_text_is_refused(versions_dir: Path) -> None:
    # Only allowed types, but the features no longer fit the classifier.
    served = load_model(versions_dir / "v2").pipeline
    features = served.named_steps["features"].transformer_list[:1]
    replace_artifact(
        versions_dir / "v2",
        Pipeline([("features", FeatureUnion(features)), served.steps[-1]]),
    )

    with pytest.raises(ModelLoadError, match="cannot score a text"):
        load_model(versions_dir / "v2")
