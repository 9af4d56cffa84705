"""The served model: loading a version once it is verified, and scoring texts with it."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from numpy.typing import NDArray
from pydantic import ValidationError
from sklearn.pipeline import Pipeline

from predictor.artifact import load_pipeline
from predictor.compiled import CompiledPipeline
from predictor.errors import ModelLoadError, UnsupportedPipeline
from predictor.model_store import ARTIFACT_NAME, METADATA_NAME, read_metadata_file, sha256_of
from predictor.schemas import ModelMetadata, ScoringPath
from predictor.verification import TOLERANCE, compare, load_sample
from service_common.errors import describe_validation_error

logger = logging.getLogger(__name__)

SMOKE_TEXT = "my cat purrs on the sofa"
"""Scored once at load: a model that cannot answer it is not served."""


@dataclass(frozen=True)
class Score:
    label: str
    confidence: float


@dataclass(frozen=True)
class LoadedModel:
    version: str
    metadata: dict[str, Any]
    pipeline: Pipeline
    compiled: CompiledPipeline | None = None
    """The scoring path when set: checked at load to answer as `pipeline` does."""

    @property
    def scoring_path(self) -> ScoringPath:
        return "pipeline" if self.compiled is None else "compiled"

    def score(self, texts: Sequence[str]) -> list[Score]:
        """Classify texts in one call; row i of the answer belongs to texts[i]."""
        probabilities = (
            pipeline_probabilities(self.pipeline, texts)
            if self.compiled is None
            else self.compiled.predict_proba(texts)
        )
        best = np.argmax(probabilities, axis=1)
        classes = self.pipeline.classes_
        return [
            Score(label=str(classes[column]), confidence=float(probabilities[row, column]))
            for row, column in enumerate(best)
        ]


def pipeline_probabilities(pipeline: Pipeline, texts: Sequence[str]) -> NDArray[np.float64]:
    # The pipeline's parameters were checked when it was fitted, and TF-IDF features are
    # finite by construction: skipping both checks saves a measurable share of a one-text
    # call (README, Benchmark), with identical answers.
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        probabilities: NDArray[np.float64] = pipeline.predict_proba(texts)
    return probabilities


@dataclass(frozen=True)
class ScoringOptions:
    """How a loaded version scores: SCORING_PATH, the holdout texts a compiled path is
    checked on (besides generated ones), and COMPILED_CACHE_WORDS."""

    path: ScoringPath = "compiled"
    holdout: tuple[str, ...] = ()
    cache_words: int = 0


def load_model(version_dir: Path, scoring: ScoringOptions = ScoringOptions()) -> LoadedModel:
    """The version in `version_dir`, once its metadata is complete, its artifact matches the
    recorded sha256 and holds only allowed types, and it scores a known text.

    With the compiled scoring path, it scores with that path if it gives the pipeline's
    answers on the holdout and generated texts; otherwise (logged) with the pipeline."""
    raw_metadata, metadata = read_metadata(version_dir)
    artifact = version_dir / ARTIFACT_NAME
    if not artifact.is_file():
        raise ModelLoadError(f"Missing artifact {artifact}")
    actual = sha256_of(artifact)
    if actual != metadata.artifact_sha256:
        raise ModelLoadError(
            f"Refusing to load {artifact}: its sha256 {actual} does not match "
            f"{metadata.artifact_sha256} recorded in {METADATA_NAME}"
        )
    model = LoadedModel(
        version=metadata.version,
        metadata=raw_metadata,
        pipeline=load_pipeline(artifact),
    )
    check_answers(model, metadata.classes)
    if scoring.path == "compiled":
        model = with_compiled_path(model, scoring)
    else:
        logger.info("Model %s scores with its pipeline (SCORING_PATH=pipeline)", model.version)
    logger.info("Loaded model %s from %s", model.version, version_dir)
    return model


def with_compiled_path(model: LoadedModel, scoring: ScoringOptions) -> LoadedModel:
    """`model` scoring with its compiled path, if that answers exactly as its pipeline does
    on the load sample; else `model` as it is, with a WARNING saying why."""
    try:
        compiled = CompiledPipeline.from_pipeline(model.pipeline, scoring.cache_words)
    except UnsupportedPipeline as reason:
        logger.warning(
            "Model %s scores with its pipeline: the compiled path cannot represent it (%s)",
            model.version,
            reason,
        )
        return model
    sample = load_sample([SMOKE_TEXT, *scoring.holdout])
    try:
        difference = compare(
            pipeline_probabilities(model.pipeline, sample), compiled.predict_proba(sample)
        )
    except Exception as error:
        logger.warning(
            "Model %s scores with its pipeline: its compiled path failed on the load sample "
            "(%s: %s)",
            model.version,
            type(error).__name__,
            error,
        )
        return model
    if not difference.within_tolerance:
        logger.warning(
            "Model %s scores with its pipeline: its compiled path was refused, it differs on "
            "the load sample (%d texts: largest probability difference %.3g, allowed %g; "
            "%d different classes)",
            model.version,
            difference.texts,
            difference.largest,
            TOLERANCE,
            difference.class_mismatches,
        )
        return model
    logger.info(
        "Model %s scores with its compiled path (checked on %d texts: largest probability "
        "difference %.3g)",
        model.version,
        difference.texts,
        difference.largest,
    )
    return replace(model, compiled=compiled)


def read_metadata(version_dir: Path) -> tuple[dict[str, Any], ModelMetadata]:
    """The metadata as written, and as checked against the schema /model answers with."""
    path = version_dir / METADATA_NAME
    raw = read_metadata_file(version_dir)
    try:
        metadata = ModelMetadata.model_validate(raw)
    except ValidationError as error:
        raise ModelLoadError(
            f"Invalid metadata {path}: {describe_validation_error(error)}"
        ) from None
    if metadata.version != version_dir.name:
        raise ModelLoadError(
            f"Invalid metadata {path}: version {metadata.version!r} in folder {version_dir.name}"
        )
    return raw, metadata


def check_answers(model: LoadedModel, classes: list[str]) -> None:
    """Score SMOKE_TEXT: the model must answer with one of its recorded classes."""
    try:
        model_classes = [str(label) for label in model.pipeline.classes_]
        [score] = model.score([SMOKE_TEXT])
    except Exception as error:
        raise ModelLoadError(
            f"Model {model.version} cannot score a text: {type(error).__name__}: {error}"
        ) from error
    if model_classes != classes:
        raise ModelLoadError(
            f"Model {model.version} predicts {model_classes}, its metadata says {classes}"
        )
    if score.label not in classes or not 0 <= score.confidence <= 1:
        raise ModelLoadError(f"Model {model.version} answered {score} for a known text")
