"""What `POST /predict` does: check the text against the configured limits, score it, and
put the answer in the documented shape."""

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from predictor.config import Settings
from predictor.errors import PredictionFailed
from predictor.metrics import PredictorMetrics
from predictor.model_versions import VersionRegistry
from predictor.scoring import Scorer, score_with
from service_common.errors import InvalidField
from service_common.text import is_blank

logger = logging.getLogger(__name__)


class PredictionService:
    """Handles one text end to end; built once per app, in its lifespan."""

    def __init__(
        self,
        scorer: Scorer,
        executor: ThreadPoolExecutor,
        versions: VersionRegistry,
        settings: Settings,
        metrics: PredictorMetrics | None = None,
    ) -> None:
        """`executor`: the model thread, for calls to a version other than the served one."""
        self._metrics = metrics
        self._scorer = scorer
        self._executor = executor
        self._versions = versions
        self._max_input_chars = settings.MAX_INPUT_CHARS

    def check(self, text: str) -> None:
        """Raise InvalidField for the rules that depend on settings (the schema checks the rest)."""
        if len(text) > self._max_input_chars:
            raise InvalidField(
                "input",
                "string_too_long",
                f"String should have at most {self._max_input_chars} characters",
                {"max_length": self._max_input_chars},
            )
        if is_blank(text):
            raise InvalidField("input", "blank", "input must contain a non-whitespace character")

    async def predict(self, text: str) -> dict[str, Any]:
        """The answer for `text`: its class, the model's confidence and the model version."""
        self.check(text)
        try:
            score, version = await self._scorer.score(text)
        except PredictionFailed as failure:
            logger.error("Prediction failed", exc_info=failure.__cause__)
            raise
        return self._answer(text, score.label, score.confidence, version)

    async def predict_version(self, version: str, text: str) -> dict[str, Any]:
        """The answer of `version`, whichever it is (VersionNotFound, VersionRefused). The
        served version is batched with /predict's requests, unless an activation swaps it
        meanwhile; another version is scored on its own."""
        self.check(text)
        model = await self._versions.model_for(version)
        try:
            if model is self._versions.active_model:
                score, scored_by = await self._scorer.score(text)
                if scored_by == version:
                    return self._answer(text, score.label, score.confidence, version)
            score = await score_with(self._executor, model, text, self._metrics)
        except PredictionFailed as failure:
            logger.error("Prediction failed", exc_info=failure.__cause__)
            raise
        return self._answer(text, score.label, score.confidence, version)

    def _answer(self, text: str, label: str, confidence: float, version: str) -> dict[str, Any]:
        if self._metrics is not None:
            self._metrics.prediction(version, label)
        return prediction_body(text, label, confidence, version)


def prediction_body(text: str, label: str, confidence: float, version: str) -> dict[str, Any]:
    confidence = round(confidence, 4)
    return {
        "prediction": {"class": label, "confidence": confidence, "input_length": len(text)},
        "message": f"Predicted class: {label} with {confidence * 100:.1f}% confidence",
        "model_version": version,
    }
