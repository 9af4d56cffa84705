"""What the training routes do: check a request against the settings, the recipe and the
served model's classes, queue it, and read job records back."""

import asyncio
import math
from collections import Counter
from dataclasses import dataclass

from pydantic import ValidationError

from predictor.config import Settings
from predictor.errors import JobNotFound, ModelNotReady
from predictor.model_versions import VersionRegistry
from predictor.schemas import TrainingJob, TrainingJobs, TrainRequest
from predictor.training import labelled_texts_csv, load_labelled_texts
from predictor.training_config import TrainingConfig
from predictor.training_jobs import JobStore
from predictor.training_queue import TrainingQueue
from service_common.errors import FieldConflict, InvalidField
from service_common.text import is_blank


@dataclass(frozen=True)
class ShippedData:
    """The size of the recipe's training data: what decides whether a split can work."""

    rows: int
    classes: int

    @classmethod
    def of(cls, config: TrainingConfig) -> "ShippedData":
        """Read the recipe's training data (blocking)."""
        labels = Counter(load_labelled_texts(config.resolve(config.data.train_path)).labels)
        return cls(sum(labels.values()), len(labels))


class TrainingService:
    """Built once per app, in its lifespan, when the admin API is on."""

    def __init__(
        self,
        queue: TrainingQueue,
        jobs: JobStore,
        config: TrainingConfig,
        registry: VersionRegistry,
        settings: Settings,
        shipped: ShippedData,
    ) -> None:
        self._queue = queue
        self._shipped = shipped
        self._jobs = jobs
        self._config = config
        self._registry = registry
        self._max_examples = settings.TRAIN_MAX_EXAMPLES
        self._max_input_chars = settings.MAX_INPUT_CHARS

    def check(self, request: TrainRequest) -> None:
        """Raise InvalidField (422) for the limits that settings decide, which the OpenAPI
        document states; FieldConflict (409) for what depends on the served model or the
        recipe; ModelNotReady while the first version trains (a job would race it to be
        served)."""
        if self._registry.active_model is None:
            raise ModelNotReady()
        if len(request.examples) > self._max_examples:
            raise InvalidField(
                "examples",
                "too_long",
                f"List should have at most {self._max_examples} items (TRAIN_MAX_EXAMPLES)",
                {"max_length": self._max_examples},
            )
        for index, example in enumerate(request.examples):
            where = ("examples", index, "text")
            if len(example.text) > self._max_input_chars:
                raise InvalidField(
                    where,
                    "string_too_long",
                    f"String should have at most {self._max_input_chars} characters",
                    {"max_length": self._max_input_chars},
                )
            if is_blank(example.text):
                raise InvalidField(where, "blank", "text must contain a non-whitespace character")
        self._check_labels(request)
        self._check_params(request)

    def _check_labels(self, request: TrainRequest) -> None:
        if request.params.allow_new_classes or not request.examples:
            return
        model = self._registry.active_model
        assert model is not None, "checked first"  # nosec B101 # check() refused None; for mypy
        classes = [str(label) for label in model.metadata.get("classes", [])]
        for index, example in enumerate(request.examples):
            if example.label not in classes:
                raise FieldConflict(
                    ("examples", index, "label"),
                    "unknown_class",
                    f"label {example.label!r} is not one of the model's classes "
                    f"({', '.join(classes)}); set params.allow_new_classes to add it",
                    {"classes": classes},
                )

    def _check_params(self, request: TrainRequest) -> None:
        for name in request.params.features:
            if name not in self._config.features:
                raise FieldConflict(
                    ("params", "features", name),
                    "unknown_feature",
                    f"no feature set {name!r} in the training config "
                    f"(it has: {', '.join(self._config.features)})",
                )
        try:
            config = self._config.with_params(request.params)
        except ValidationError as error:
            [problem, *_] = error.errors(include_url=False)
            raise FieldConflict(
                ("params", *problem["loc"]), problem["type"], problem["msg"]
            ) from None
        self._check_split(config, len(request.examples))

    def _check_split(self, config: TrainingConfig, examples: int) -> None:
        """Refuse what scikit-learn would refuse once the job runs: a stratified split
        needs a row of each class on both sides, and a min_df above the number of
        training texts leaves no feature."""
        rows, classes = self._shipped.rows, self._shipped.classes
        fraction = config.data.test_fraction
        test = math.ceil(fraction * rows)
        train = rows - test
        if test < classes or train < classes:
            raise FieldConflict(
                ("params", "test_fraction"),
                "split_impossible",
                f"test_fraction {fraction:g} splits the {rows} training rows into {train} to "
                f"train on and {test} to test; each side needs at least one of each of the "
                f"{classes} classes",
            )
        texts = train + examples
        for name, feature in config.features.items():
            if feature.min_df > texts:
                raise FieldConflict(
                    ("params", "features", name, "min_df"),
                    "min_df_too_large",
                    f"min_df {feature.min_df} is above the {texts} texts trained on: "
                    "no feature would be kept",
                )

    async def submit(self, request: TrainRequest) -> TrainingJob:
        self.check(request)
        examples_csv = (
            labelled_texts_csv(
                [example.text for example in request.examples],
                [example.label for example in request.examples],
            )
            if request.examples
            else None
        )
        return await self._queue.submit(
            request.params.model_dump(mode="json", exclude_unset=True, exclude_none=True),
            examples_csv,
            len(request.examples),
            request.activate,
        )

    async def job(self, job_id: str) -> TrainingJob:
        job = await asyncio.to_thread(self._jobs.get, job_id)
        if job is None:
            raise JobNotFound()
        return job

    async def jobs(self, limit: int) -> TrainingJobs:
        jobs = await asyncio.to_thread(self._jobs.all)
        return TrainingJobs(jobs=jobs[:limit])
