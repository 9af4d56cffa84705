"""Training: fit the text classifier from a config file and publish it as a new version."""

import csv
import errno
import hashlib
import json
import logging
import platform
import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import skops.io
from pydantic import BaseModel, ConfigDict, Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

logger = logging.getLogger(__name__)

ARTIFACT_NAME = "model.skops"
METADATA_NAME = "metadata.json"
VERSION_DIR_PATTERN = re.compile(r"^v([1-9][0-9]*)$")
LIBRARIES_RECORDED = ("scikit-learn", "numpy", "scipy", "skops")


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train_path: Path
    holdout_path: Path | None = None
    test_fraction: float = Field(gt=0, lt=1)


class TrainingConfig(BaseModel):
    """The whole training recipe; every parameter the trainer uses comes from here."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    output_dir: Path
    data: DataConfig
    features: dict[str, dict[str, Any]] = Field(
        description="Named TfidfVectorizer parameter sets, joined in one FeatureUnion."
    )
    classifier: dict[str, Any] = Field(description="LogisticRegression parameters.")
    base_dir: Path = Field(exclude=True, description="Folder that relative paths start from.")

    @classmethod
    def from_file(cls, path: Path) -> "TrainingConfig":
        with path.open("rb") as config_file:
            raw = tomllib.load(config_file)
        return cls(**raw, base_dir=path.resolve().parent)

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path

    @property
    def models_dir(self) -> Path:
        """Where versions go when MODEL_DIR does not say otherwise."""
        return self.resolve(self.output_dir)


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: list[str]
    sha256: str


@dataclass(frozen=True)
class PublishedModel:
    version: str
    directory: Path
    metadata: dict[str, Any]


def load_labelled_texts(path: Path) -> LabelledTexts:
    """Read a `text,label` CSV; the hash is of the exact bytes trained on."""
    raw = path.read_bytes()
    rows = list(csv.DictReader(raw.decode("utf-8").splitlines()))
    return LabelledTexts(
        texts=[row["text"] for row in rows],
        labels=[row["label"] for row in rows],
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def build_pipeline(config: TrainingConfig) -> Pipeline:
    features = FeatureUnion(
        [(name, TfidfVectorizer(**_tuples(params))) for name, params in config.features.items()]
    )
    classifier = LogisticRegression(random_state=config.seed, **config.classifier)
    return Pipeline([("features", features), ("classifier", classifier)])


def _tuples(params: dict[str, Any]) -> dict[str, Any]:
    # TOML has arrays only; scikit-learn wants tuples for ranges such as ngram_range.
    return {
        key: tuple(value) if isinstance(value, list) else value for key, value in params.items()
    }


def train(config: TrainingConfig, output_dir: Path | None = None) -> PublishedModel:
    """Fit, evaluate and publish a new model version; never touches existing versions."""
    dataset = load_labelled_texts(config.resolve(config.data.train_path))
    train_texts, test_texts, train_labels, test_labels = train_test_split(
        dataset.texts,
        dataset.labels,
        test_size=config.data.test_fraction,
        random_state=config.seed,
        stratify=dataset.labels,
    )
    pipeline = build_pipeline(config).fit(train_texts, train_labels)

    metrics: dict[str, Any] = {
        "train_size": len(train_texts),
        "test_size": len(test_texts),
        "test_accuracy": round(accuracy_score(test_labels, pipeline.predict(test_texts)), 4),
    }
    data_sha256 = {"train": dataset.sha256}
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
    published = publish(pipeline, metadata, output_dir or config.models_dir)
    logger.info("Trained model %s: %s", published.version, metrics)
    return published


def publish(pipeline: Pipeline, metadata: dict[str, Any], models_dir: Path) -> PublishedModel:
    """Write the artifact and metadata to a private folder, then claim the next free version.

    Claiming is an atomic rename onto `v<N>`: it fails if `v<N>` exists, so concurrent
    trainings get distinct versions and readers never see a half-written one.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=models_dir))
    staging.chmod(0o755)  # mkdtemp makes it private; a published version is for every reader
    try:
        artifact = staging / ARTIFACT_NAME
        skops.io.dump(pipeline, artifact)
        contents = {**metadata, "artifact_sha256": sha256_of(artifact)}
        while True:
            version = f"v{latest_version_number(models_dir) + 1}"
            record = {"version": version, "created_at": datetime.now(UTC).isoformat(), **contents}
            (staging / METADATA_NAME).write_text(json.dumps(record, indent=2) + "\n")
            try:
                # Renaming a folder onto an existing, non-empty one fails: someone else
                # claimed this version first, so try the next one.
                staging.rename(models_dir / version)
            except OSError as error:
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                continue
            return PublishedModel(version=version, directory=models_dir / version, metadata=record)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def version_numbers(models_dir: Path) -> list[int]:
    if not models_dir.is_dir():
        return []
    return sorted(
        int(match.group(1))
        for entry in models_dir.iterdir()
        if (match := VERSION_DIR_PATTERN.match(entry.name)) and entry.is_dir()
    )


def latest_version_number(models_dir: Path) -> int:
    return max(version_numbers(models_dir), default=0)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as artifact:
        for chunk in iter(lambda: artifact.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
