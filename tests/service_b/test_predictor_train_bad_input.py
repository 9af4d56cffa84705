"""Bad training requests to POST /train, refused before any job is queued: a 422 naming
the field for what its schema refuses, a 409 in the same shape for what the served model
or the recipe cannot honour; and the one way to add a label, `params.allow_new_classes`."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from predictor.config import Settings
from predictor.errors import ModelNotReady
from predictor.main import create_app
from predictor.model import ScoringOptions
from predictor.model_store import ModelStore
from predictor.model_versions import VersionRegistry
from predictor.schemas import TrainRequest
from predictor.scoring import ModelSlot
from predictor.training_config import TrainingConfig
from predictor.training_jobs import JobStore
from predictor.training_queue import TrainingCommand, TrainingQueue
from predictor.training_service import ShippedData, TrainingService
from tests.support.asgi import serve
from tests.support.lifecycle import ADMIN_HEADERS
from tests.support.predictor import settings_with

A_CAT = {"text": "a kitten naps", "label": "cat"}
BAD_BODIES: dict[str, tuple[Any, list[Any], str]] = {
    "unknown param": (
        {"params": {"learning_rate": 0.1}},
        ["params", "learning_rate"],
        "extra_forbidden",
    ),
    "unknown field": ({"epochs": 3}, ["epochs"], "extra_forbidden"),
    "C of 0": ({"params": {"C": 0}}, ["params", "C"], "greater_than"),
    "C too large": ({"params": {"C": 1e7}}, ["params", "C"], "less_than_equal"),
    "C not a number": ({"params": {"C": "big"}}, ["params", "C"], "float_type"),
    "C a string of digits": ({"params": {"C": "5"}}, ["params", "C"], "float_type"),
    "seed a boolean": ({"params": {"seed": True}}, ["params", "seed"], "int_type"),
    "max_iter a string": ({"params": {"max_iter": "10"}}, ["params", "max_iter"], "int_type"),
    "allow_new_classes a string": (
        {"params": {"allow_new_classes": "true"}},
        ["params", "allow_new_classes"],
        "bool_type",
    ),
    "no iterations": ({"params": {"max_iter": 0}}, ["params", "max_iter"], "greater_than_equal"),
    "negative seed": ({"params": {"seed": -1}}, ["params", "seed"], "greater_than_equal"),
    "test fraction of 1": (
        {"params": {"test_fraction": 1}},
        ["params", "test_fraction"],
        "less_than",
    ),
    "feature set name not a name": (
        {"params": {"features": {"big set": {"min_df": 2}}}},
        ["params", "features", "big set", "[key]"],
        "string_pattern_mismatch",
    ),
    "feature value not tunable": (
        {"params": {"features": {"word": {"analyzer": "char"}}}},
        ["params", "features", "word", "analyzer"],
        "extra_forbidden",
    ),
    "reversed ngram range": (
        {"params": {"features": {"word": {"ngram_range": [3, 1]}}}},
        ["params", "features", "word", "ngram_range"],
        "value_error",
    ),
    "min_df a string": (
        {"params": {"features": {"char": {"min_df": "2"}}}},
        ["params", "features", "char", "min_df"],
        "int_type",
    ),
    "min_df of 0": (
        {"params": {"features": {"char": {"min_df": 0}}}},
        ["params", "features", "char", "min_df"],
        "greater_than_equal",
    ),
    "blank text": (
        {"examples": [A_CAT, {"text": " \n\t", "label": "cat"}]},
        ["examples", 1, "text"],
        "blank",
    ),
    "text too long": (
        {"examples": [{"text": "a" * 201, "label": "cat"}]},
        ["examples", 0, "text"],
        "string_too_long",
    ),
    "text not a string": (
        {"examples": [{"text": 5, "label": "cat"}]},
        ["examples", 0, "text"],
        "string_type",
    ),
    "label not a name": (
        {"examples": [{"text": "a cat", "label": "big cat"}]},
        ["examples", 0, "label"],
        "string_pattern_mismatch",
    ),
    "label missing": ({"examples": [{"text": "a cat"}]}, ["examples", 0, "label"], "missing"),
    "unknown policy": ({"activate": "sometimes"}, ["activate"], "literal_error"),
    "not an object": ([], [], "model_attributes_type"),
}
CONFLICTING_BODIES: dict[str, tuple[Any, list[Any], str]] = {
    "unknown feature set": (
        {"params": {"features": {"trigram": {"min_df": 2}}}},
        ["params", "features", "trigram"],
        "unknown_feature",
    ),
    "label not a class": (
        {"examples": [A_CAT, {"text": "the hamster runs", "label": "hamster"}]},
        ["examples", 1, "label"],
        "unknown_class",
    ),
    "test fraction too small to test each class": (
        {"params": {"test_fraction": 1e-9}},
        ["params", "test_fraction"],
        "split_impossible",
    ),
    "test fraction too large to train each class": (
        {"params": {"test_fraction": 0.999}},
        ["params", "test_fraction"],
        "split_impossible",
    ),
    "min_df above the texts trained on": (
        {"params": {"features": {"word": {"min_df": 1_000_000}}}},
        ["params", "features", "word", "min_df"],
        "min_df_too_large",
    ),
}


def first_error(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    first: dict[str, Any] = response.json()["detail"][0]
    assert first["msg"], response.text
    return first


async def train(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/train", json=body, headers=ADMIN_HEADERS)


@pytest.mark.parametrize(("body", "loc", "error_type"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_bad_training_request_is_422_naming_the_field(
    admin_client: httpx.AsyncClient, body: Any, loc: list[Any], error_type: str
) -> None:
    error = first_error(await train(admin_client, body))

    assert error["loc"] == ["body", *loc]
    assert error["type"] == error_type


@pytest.mark.parametrize(
    ("body", "loc", "error_type"), CONFLICTING_BODIES.values(), ids=CONFLICTING_BODIES.keys()
)
async def test_training_request_the_model_or_recipe_cannot_honour_is_409_naming_the_field(
    admin_client: httpx.AsyncClient, body: Any, loc: list[Any], error_type: str
) -> None:
    error = first_error(await train(admin_client, body), 409)

    assert error["loc"] == ["body", *loc]
    assert error["type"] == error_type


async def test_refused_training_request_queues_no_job(admin_client: httpx.AsyncClient) -> None:
    for body, _, _ in [*BAD_BODIES.values(), *CONFLICTING_BODIES.values()]:
        await train(admin_client, body)

    jobs = await admin_client.get("/train/jobs", headers=ADMIN_HEADERS)

    assert jobs.json() == {"jobs": []}


async def test_unknown_label_error_lists_the_classes_and_the_way_out(
    admin_client: httpx.AsyncClient,
) -> None:
    body = {"examples": [{"text": "the hamster runs", "label": "hamster"}]}

    error = first_error(await train(admin_client, body), 409)

    assert error["ctx"] == {"classes": ["bird", "cat", "dog", "fish", "rabbit"]}
    assert "allow_new_classes" in error["msg"]


async def test_unknown_feature_set_error_names_the_recipe_feature_sets(
    admin_client: httpx.AsyncClient,
) -> None:
    body = {"params": {"features": {"trigram": {"min_df": 2}}}}

    error = first_error(await train(admin_client, body), 409)

    assert "word, char" in error["msg"]


async def test_more_examples_than_train_max_examples_is_422(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    async with serve(create_app(settings_with(admin_settings, TRAIN_MAX_EXAMPLES=2))) as client:
        error = first_error(await train(client, {"examples": [A_CAT] * 3}))

    assert error["loc"] == ["body", "examples"]
    assert error["type"] == "too_long"
    assert "TRAIN_MAX_EXAMPLES" in error["msg"]


async def test_train_max_examples_examples_are_accepted(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    async with serve(create_app(settings_with(admin_settings, TRAIN_MAX_EXAMPLES=2))) as client:
        response = await train(client, {"examples": [A_CAT] * 2, "activate": "never"})

    assert response.status_code == 202, response.text


async def test_new_label_is_accepted_with_allow_new_classes(
    admin_client: httpx.AsyncClient,
) -> None:
    body = {
        "params": {"allow_new_classes": True},
        "examples": [{"text": "the hamster runs in its wheel", "label": "hamster"}],
        "activate": "never",
    }

    response = await train(admin_client, body)

    assert response.status_code == 202, response.text
    assert response.json()["params"] == {"allow_new_classes": True}


async def test_null_params_are_unset_as_the_schema_says(admin_client: httpx.AsyncClient) -> None:
    body = {"params": {"C": None, "seed": None, "features": {"word": {"ngram_range": None}}}}

    response = await train(admin_client, body)

    assert response.status_code == 202, response.text
    assert "C" not in response.json()["params"]
    assert "seed" not in response.json()["params"]


async def test_split_error_says_what_each_side_needs(admin_client: httpx.AsyncClient) -> None:
    error = first_error(await train(admin_client, {"params": {"test_fraction": 1e-9}}), 409)

    assert "each side needs at least one of each of the" in error["msg"]


@pytest.mark.parametrize("body", [[], "params", 5])
async def test_body_that_is_not_an_object_is_422_quoting_a_training_body(
    admin_client: httpx.AsyncClient, body: Any
) -> None:
    error = first_error(await train(admin_client, body))

    assert error["loc"] == ["body"]
    assert '{"params": {"C": 5.0}, "activate": "if_better"}' in error["msg"]


def test_training_request_while_the_first_version_trains_is_503(
    settings: Settings, tiny_config: TrainingConfig, models_dir: Path
) -> None:
    registry = VersionRegistry(ModelStore(models_dir), ModelSlot(), ScoringOptions(), 0)
    jobs = JobStore(models_dir)
    command = TrainingCommand(tiny_config.base_dir, models_dir, models_dir, 1.0, 0)
    queue = TrainingQueue(jobs, registry, command, 1, 1.0)
    service = TrainingService(
        queue, jobs, tiny_config, registry, settings, ShippedData.of(tiny_config)
    )

    with pytest.raises(ModelNotReady):
        service.check(TrainRequest())
