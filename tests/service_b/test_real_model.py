"""The REAL model: trained from the committed service_b/training.toml and dataset.

The only module that reads the committed data; it trains into a temporary folder (no
model files are committed) and checks the accuracy the README promises.
"""

import hashlib
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from predictor.config import SERVICE_ROOT, Settings
from predictor.main import create_app
from predictor.model import LoadedModel, ScoringOptions, load_model
from predictor.model_store import ModelStore, PublishedModel
from predictor.training import load_labelled_texts, train
from predictor.training_config import TrainingConfig
from predictor.verification import TOLERANCE, generated_texts, words_of
from tests.support.asgi import serve
from tests.support.predictor import settings_with

REAL_CONFIG_PATH = SERVICE_ROOT / "training.toml"
CLASSES = {"cat", "dog", "bird", "fish", "rabbit"}
MIN_TEST_ACCURACY = 0.85  # measured 0.872 on the 20 % stratified split (2,500 rows)
MIN_HOLDOUT_ACCURACY = 0.85  # measured 0.89 on holdout.csv, never trained on
MIN_TEXTS_PER_CLASS = 200  # "a few hundred ... per class"

# Everyday phrasings that do not name the animal.
EVERYDAY_PHRASINGS = [
    ("walked the puppy on a leash", "dog"),
    ("cleaned the litter box", "cat"),
    ("refilled the seed feeder", "bird"),
    ("changed the tank water", "fish"),
    ("it keeps chewing the hay", "rabbit"),
]


def normalized(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.fixture(scope="module")
def real_config() -> TrainingConfig:
    config = TrainingConfig.from_file(REAL_CONFIG_PATH)
    for path in (config.data.train_path, config.data.holdout_path):
        assert path is not None
        assert config.resolve(path).is_file(), f"committed dataset missing: {path}"
    return config


@pytest.fixture(scope="module")
def real_published(
    real_config: TrainingConfig, tmp_path_factory: pytest.TempPathFactory
) -> PublishedModel:
    return train(real_config, ModelStore(tmp_path_factory.mktemp("real_models")))


@pytest.fixture(scope="module")
def real_model(real_published: PublishedModel) -> LoadedModel:
    return load_model(real_published.directory, ScoringOptions(cache_words=1_000))


@pytest.fixture(scope="module")
def training_texts(real_config: TrainingConfig) -> list[str]:
    return load_labelled_texts(real_config.resolve(real_config.data.train_path)).texts


def test_real_model_test_accuracy_is_stored_and_high(real_model: LoadedModel) -> None:
    assert real_model.metadata["metrics"]["test_accuracy"] >= MIN_TEST_ACCURACY


def test_real_model_holdout_accuracy_is_stored_and_high(real_model: LoadedModel) -> None:
    assert real_model.metadata["metrics"]["holdout_accuracy"] >= MIN_HOLDOUT_ACCURACY


def test_real_model_metadata_hashes_the_committed_data(
    real_model: LoadedModel, real_config: TrainingConfig
) -> None:
    expected = {
        name: hashlib.sha256(real_config.resolve(path).read_bytes()).hexdigest()
        for name, path in (
            ("train", real_config.data.train_path),
            ("holdout", real_config.data.holdout_path),
        )
        if path is not None
    }

    assert real_model.metadata["data_sha256"] == expected


def test_real_model_knows_the_five_classes(real_model: LoadedModel) -> None:
    assert set(real_model.metadata["classes"]) == CLASSES


@pytest.mark.parametrize(("text", "label"), EVERYDAY_PHRASINGS)
def test_real_model_classifies_everyday_phrasing(
    real_model: LoadedModel, text: str, label: str
) -> None:
    [score] = real_model.score([text])

    assert score.label == label, f"{text!r} -> {score.label} ({score.confidence:.2f})"


@pytest.fixture(scope="module")
def holdout_texts(real_config: TrainingConfig) -> list[str]:
    assert real_config.data.holdout_path is not None
    return load_labelled_texts(real_config.resolve(real_config.data.holdout_path)).texts


def test_real_model_pipeline_path_equals_the_fully_checked_pipeline(
    real_model: LoadedModel, holdout_texts: list[str]
) -> None:
    # The pipeline path skips scikit-learn's parameter and finiteness checks; the answers
    # must not move.
    checked = real_model.pipeline.predict_proba(holdout_texts)

    scores = replace(real_model, compiled=None).score(holdout_texts)

    assert [s.label for s in scores] == [
        str(real_model.pipeline.classes_[row.argmax()]) for row in checked
    ]
    assert [s.confidence for s in scores] == [float(row.max()) for row in checked]


def test_real_model_is_served_by_its_compiled_path(real_model: LoadedModel) -> None:
    assert real_model.scoring_path == "compiled"


@pytest.mark.parametrize("batch_size", [1, 64])
def test_real_model_compiled_path_answers_as_the_pipeline(
    real_model: LoadedModel, holdout_texts: list[str], batch_size: int
) -> None:
    """The holdout and 10,000 generated texts (random words and characters, unicode, stop
    words only): identical classes, probabilities within the tolerance."""
    assert real_model.compiled is not None
    texts = holdout_texts + generated_texts(10_000, words_of(holdout_texts))
    batches = [texts[start : start + batch_size] for start in range(0, len(texts), batch_size)]

    expected = np.vstack([real_model.pipeline.predict_proba(batch) for batch in batches])
    actual = np.vstack([real_model.compiled.predict_proba(batch) for batch in batches])

    assert actual.shape == expected.shape
    assert (actual.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert np.abs(actual - expected).max() <= TOLERANCE


@pytest.mark.parametrize(("text", "label"), EVERYDAY_PHRASINGS)
def test_everyday_phrasing_is_not_in_the_training_data(
    training_texts: list[str], text: str, label: str
) -> None:
    assert normalized(text) not in {normalized(t) for t in training_texts}


async def test_real_model_is_served_by_the_app(
    settings: Settings,
    real_published: PublishedModel,
) -> None:
    app = create_app(
        settings_with(
            settings, TRAINING_CONFIG=REAL_CONFIG_PATH, MODEL_DIR=real_published.directory.parent
        )
    )

    async with serve(app) as client:
        response = await client.post("/predict", json={"input": "walked the puppy on a leash"})

    assert response.status_code == 200
    assert response.json()["prediction"]["class"] == "dog"
    assert response.json()["model_version"] == real_published.version


def test_committed_dataset_has_a_few_hundred_texts_per_class(real_config: TrainingConfig) -> None:
    dataset = load_labelled_texts(real_config.resolve(real_config.data.train_path))
    counts = Counter(dataset.labels)

    assert set(counts) == CLASSES
    assert min(counts.values()) >= MIN_TEXTS_PER_CLASS, counts


def test_committed_holdout_covers_the_five_classes(real_config: TrainingConfig) -> None:
    assert real_config.data.holdout_path is not None
    holdout = load_labelled_texts(real_config.resolve(real_config.data.holdout_path))

    assert set(holdout.labels) == CLASSES


def test_committed_holdout_texts_are_not_in_the_training_data(
    real_config: TrainingConfig, training_texts: list[str]
) -> None:
    assert real_config.data.holdout_path is not None
    holdout = load_labelled_texts(real_config.resolve(real_config.data.holdout_path))

    leaked = {normalized(t) for t in holdout.texts} & {normalized(t) for t in training_texts}
    assert not leaked, sorted(leaked)[:10]
