"""Training: reproducible, versioned, never overwriting, safe to run concurrently."""

import hashlib
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from predictor.config import SERVICE_ROOT, Settings
from predictor.errors import InvalidTrainingConfig
from predictor.model import LoadedModel, load_model
from predictor.model_store import ARTIFACT_NAME, METADATA_NAME, ModelStore, PublishedModel
from predictor.training import (
    build_pipeline,
    labelled_texts_csv,
    load_labelled_texts,
    parse_labelled_texts,
    train,
)
from predictor.training_config import TrainingConfig
from tests.support.tiny_dataset import SAMPLE_TEXTS, write_tiny_training_dir


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_metadata(version_dir: Path) -> dict[str, Any]:
    metadata: dict[str, Any] = json.loads((version_dir / METADATA_NAME).read_text())
    return metadata


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_same_config_and_data_give_identical_predictions(
    tiny_config: TrainingConfig, tmp_path: Path
) -> None:
    first = load_model(train(tiny_config, ModelStore(tmp_path / "a")).directory)
    second = load_model(train(tiny_config, ModelStore(tmp_path / "b")).directory)

    assert np.array_equal(
        first.pipeline.predict_proba(SAMPLE_TEXTS), second.pipeline.predict_proba(SAMPLE_TEXTS)
    )
    assert first.score(SAMPLE_TEXTS) == second.score(SAMPLE_TEXTS)


def test_first_training_publishes_v1(tiny_config: TrainingConfig, models_dir: Path) -> None:
    published = train(tiny_config, ModelStore(models_dir))

    assert published.version == "v1"
    assert published.directory == models_dir / "v1"
    assert read_metadata(models_dir / "v1")["version"] == "v1"


def test_second_training_publishes_v2(tiny_config: TrainingConfig, models_dir: Path) -> None:
    train(tiny_config, ModelStore(models_dir))

    published = train(tiny_config, ModelStore(models_dir))

    assert published.version == "v2"
    assert read_metadata(models_dir / "v2")["version"] == "v2"


def test_second_training_leaves_v1_byte_identical(
    tiny_config: TrainingConfig, models_dir: Path
) -> None:
    train(tiny_config, ModelStore(models_dir))
    before = snapshot(models_dir / "v1")

    train(tiny_config, ModelStore(models_dir))

    assert snapshot(models_dir / "v1") == before


def test_training_writes_to_the_config_output_dir_by_default(tmp_path: Path) -> None:
    config_path = write_tiny_training_dir(tmp_path)

    published = train(TrainingConfig.from_file(config_path))

    assert published.directory == tmp_path / "models" / "v1"


def test_concurrent_trainings_get_distinct_complete_versions(
    tiny_config: TrainingConfig, models_dir: Path
) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        published = list(pool.map(lambda _: train(tiny_config, ModelStore(models_dir)), range(4)))

    assert sorted(p.version for p in published) == ["v1", "v2", "v3", "v4"]
    assert_complete_versions(models_dir, ["v1", "v2", "v3", "v4"])


def test_concurrent_publishes_of_the_same_model_get_distinct_versions(
    tiny_config: TrainingConfig, models_dir: Path
) -> None:
    pipeline = build_pipeline(tiny_config).fit(["a cat", "a dog"], ["cat", "dog"])
    start = threading.Barrier(8)

    def publish_at_once(_: int) -> PublishedModel:
        start.wait()
        return ModelStore(models_dir).publish(pipeline, {"metrics": {}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        published = list(pool.map(publish_at_once, range(8)))

    expected = [f"v{n}" for n in range(1, 9)]
    assert sorted(p.version for p in published) == sorted(expected)
    assert_complete_versions(models_dir, expected)


def assert_complete_versions(models_dir: Path, versions: list[str]) -> None:
    assert sorted(p.name for p in models_dir.iterdir()) == sorted(versions)  # no staging left
    for version in versions:
        metadata = read_metadata(models_dir / version)
        assert metadata["version"] == version
        assert metadata["artifact_sha256"] == sha256_hex(models_dir / version / ARTIFACT_NAME)


def test_metadata_records_sha256_of_training_data(
    tiny_published: PublishedModel, tiny_training_dir: Path
) -> None:
    metadata = read_metadata(tiny_published.directory)

    assert metadata["data_sha256"] == {
        "train": sha256_hex(tiny_training_dir / "animals.csv"),
        "holdout": sha256_hex(tiny_training_dir / "holdout.csv"),
    }


def test_metadata_records_sha256_of_artifact(tiny_published: PublishedModel) -> None:
    metadata = read_metadata(tiny_published.directory)

    assert metadata["artifact_sha256"] == sha256_hex(tiny_published.directory / ARTIFACT_NAME)


def test_metadata_records_test_and_holdout_accuracy(tiny_published: PublishedModel) -> None:
    metrics = read_metadata(tiny_published.directory)["metrics"]

    assert 0 <= metrics["test_accuracy"] <= 1
    assert 0 <= metrics["holdout_accuracy"] <= 1
    assert metrics["train_size"] + metrics["test_size"] == 30
    assert metrics["holdout_size"] == 5


def test_metadata_records_library_versions_and_creation_time(
    tiny_published: PublishedModel,
) -> None:
    metadata = read_metadata(tiny_published.directory)

    assert set(metadata["library_versions"]) >= {"python", "scikit-learn", "numpy", "skops"}
    assert metadata["created_at"]


def test_metadata_records_the_config_used(
    tiny_published: PublishedModel, tiny_config: TrainingConfig
) -> None:
    config = read_metadata(tiny_published.directory)["config"]

    assert config["seed"] == tiny_config.seed
    assert config["classifier"] == tiny_config.model_dump(mode="json")["classifier"]
    assert config["features"] == tiny_config.model_dump(mode="json")["features"]
    assert config["data"]["test_fraction"] == tiny_config.data.test_fraction


def test_metadata_lists_the_five_classes(tiny_published: PublishedModel) -> None:
    metadata = read_metadata(tiny_published.directory)

    assert metadata["classes"] == ["bird", "cat", "dog", "fish", "rabbit"]


def test_labelled_texts_hash_is_of_the_file_bytes(tiny_training_dir: Path) -> None:
    dataset = load_labelled_texts(tiny_training_dir / "animals.csv")

    assert dataset.sha256 == sha256_hex(tiny_training_dir / "animals.csv")
    assert len(dataset.texts) == len(dataset.labels) == 30


def test_training_config_with_an_unknown_key_is_refused(
    tiny_config_path: Path, tmp_path: Path
) -> None:
    config_path = tmp_path / "training.toml"
    config_path.write_text("learning_rate = 0.1\n" + tiny_config_path.read_text())

    with pytest.raises(InvalidTrainingConfig, match="learning_rate"):
        TrainingConfig.from_file(config_path)


def test_training_config_paths_are_relative_to_its_folder(
    tiny_config: TrainingConfig, tiny_training_dir: Path
) -> None:
    assert tiny_config.resolve(tiny_config.data.train_path) == tiny_training_dir / "animals.csv"


def train_command(config_path: Path, output_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "predictor.cli",
        "train",
        "--config",
        str(config_path),
        "--output-dir",
        str(output_dir),
    ]


def env_without_settings() -> dict[str, str]:
    fields = {name.upper() for name in Settings.model_fields}
    return {key: value for key, value in os.environ.items() if key.upper() not in fields}


@pytest.fixture(scope="module")
def command_run(
    tiny_config_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`python -m predictor.cli train` run once, as a user would, from service_b/."""
    output_dir = tmp_path_factory.mktemp("command") / "models"
    completed = subprocess.run(
        train_command(tiny_config_path, output_dir),
        cwd=SERVICE_ROOT,
        env=env_without_settings(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return completed, output_dir


def test_train_command_publishes_a_version_and_prints_it_as_json(
    command_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    completed, output_dir = command_run

    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert summary["version"] == "v1"
    assert Path(summary["directory"]) == output_dir / "v1"
    assert "test_accuracy" in summary["metrics"]
    assert read_metadata(output_dir / "v1")["version"] == "v1"


def test_model_trained_by_the_command_predicts_like_one_trained_in_process(
    command_run: tuple[subprocess.CompletedProcess[str], Path], tiny_model: LoadedModel
) -> None:
    completed, output_dir = command_run
    assert completed.returncode == 0, completed.stderr

    from_command = load_model(output_dir / "v1")

    assert np.array_equal(
        from_command.pipeline.predict_proba(SAMPLE_TEXTS),
        tiny_model.pipeline.predict_proba(SAMPLE_TEXTS),
    )


@pytest.mark.parametrize(
    "text",
    [
        "plain words",
        'a "quoted", comma text',
        "two\nlines",
        "a lone\rcarriage return",
        "ends with a return\r",
        "windows\r\nline end",
        "  spaces around  ",
        "accents é and emoji 🐱",
    ],
)
def test_labelled_texts_csv_reads_back_as_exactly_its_rows(text: str) -> None:
    raw = labelled_texts_csv([text, "the next row"], ["cat", "dog"])

    parsed = parse_labelled_texts(raw)

    assert (parsed.texts, parsed.labels) == ([text, "the next row"], ["cat", "dog"])
    assert parsed.sha256 == hashlib.sha256(raw).hexdigest()


def test_training_with_examples_adds_them_to_the_training_side_only(
    tiny_config: TrainingConfig, models_dir: Path, tiny_published: PublishedModel
) -> None:
    examples = labelled_texts_csv(["a hamster runs", "a kitten naps"], ["rabbit", "cat"])

    published = train(tiny_config, ModelStore(models_dir), examples)

    metrics, without = published.metadata["metrics"], tiny_published.metadata["metrics"]
    assert metrics["train_size"] == without["train_size"] + 2
    assert (metrics["test_size"], metrics["examples"]) == (without["test_size"], 2)
