"""Training: fit the text classifier from a recipe and publish it as a new version."""

import csv
import hashlib
import io
import logging
import platform
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from predictor.model_store import ModelStore, PublishedModel
from predictor.training_config import TrainingConfig

logger = logging.getLogger(__name__)

LIBRARIES_RECORDED = ("scikit-learn", "numpy", "scipy", "skops")


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: list[str]
    sha256: str


def load_labelled_texts(path: Path) -> LabelledTexts:
    """Read a `text,label` CSV; the hash is of the exact bytes trained on."""
    return parse_labelled_texts(path.read_bytes())


def parse_labelled_texts(raw: bytes) -> LabelledTexts:
    # newline="" keeps line breaks inside quoted texts as they were written.
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    return LabelledTexts(
        texts=[row["text"] for row in rows],
        labels=[row["label"] for row in rows],
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def labelled_texts_csv(texts: list[str], labels: list[str]) -> bytes:
    """The `text,label` CSV that parse_labelled_texts reads back as exactly these rows."""
    buffer = io.StringIO(newline="")
    # Every field quoted: unquoted, a text holding a lone "\r" would read back as two rows
    # (Python 3.11's writer quotes only the delimiter, the quote and "\n" here).
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["text", "label"])
    writer.writerows(zip(texts, labels, strict=True))
    return buffer.getvalue().encode("utf-8")


def build_pipeline(config: TrainingConfig) -> Pipeline:
    """The unfitted pipeline: the values the recipe sets, scikit-learn's defaults for the rest."""
    features = FeatureUnion(
        [
            (name, TfidfVectorizer(**params.model_dump(exclude_unset=True)))
            for name, params in config.features.items()
        ]
    )
    classifier = LogisticRegression(
        random_state=config.seed, **config.classifier.model_dump(exclude_unset=True)
    )
    return Pipeline([("features", features), ("classifier", classifier)])


def train(
    config: TrainingConfig,
    store: ModelStore | None = None,
    examples_csv: bytes | None = None,
) -> PublishedModel:
    """Fit, evaluate and publish a new version (to the config's output_dir unless `store`
    says otherwise); never touches existing versions.

    `examples_csv` (a `text,label` CSV) adds rows to the training side of the split, so
    test and holdout accuracy stay comparable with versions trained without them; it is
    stored in the version's folder, so the version can be trained again from it."""
    dataset = load_labelled_texts(config.resolve(config.data.train_path))
    train_texts, test_texts, train_labels, test_labels = train_test_split(
        dataset.texts,
        dataset.labels,
        test_size=config.data.test_fraction,
        random_state=config.seed,
        stratify=dataset.labels,
    )
    data_sha256 = {"train": dataset.sha256}
    extra = parse_labelled_texts(examples_csv) if examples_csv is not None else None
    if extra is not None:
        train_texts, train_labels = train_texts + extra.texts, train_labels + extra.labels
        data_sha256["examples"] = extra.sha256
    pipeline = build_pipeline(config).fit(train_texts, train_labels)

    metrics: dict[str, Any] = {
        "train_size": len(train_texts),
        "test_size": len(test_texts),
        "test_accuracy": round(accuracy_score(test_labels, pipeline.predict(test_texts)), 4),
    }
    if extra is not None:
        metrics["examples"] = len(extra.texts)
    if config.data.holdout_path is not None:
        holdout = load_labelled_texts(config.resolve(config.data.holdout_path))
        metrics["holdout_size"] = len(holdout.texts)
        metrics["holdout_accuracy"] = round(
            accuracy_score(holdout.labels, pipeline.predict(holdout.texts)), 4
        )
        data_sha256["holdout"] = holdout.sha256

    metadata = {
        "classes": [str(label) for label in pipeline.classes_],
        "metrics": metrics,
        "data_sha256": data_sha256,
        "library_versions": {
            "python": platform.python_version(),
            **{name: package_version(name) for name in LIBRARIES_RECORDED},
        },
        "config": config.model_dump(mode="json"),
    }
    published = (store or ModelStore(config.models_dir)).publish(pipeline, metadata, examples_csv)
    logger.info("Trained model %s: %s", published.version, metrics)
    return published
