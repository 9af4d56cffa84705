"""The predictor's OpenAPI document states the rules its routes enforce: a client built
from it sends nothing the predictor refuses with a 422, and refuses nothing it takes."""

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from predictor.config import Settings
from predictor.main import create_app
from predictor.model import LoadedModel
from predictor.training_config import MAX_NGRAM, ordered_ngram_range
from service_common.text import NON_BLANK_PATTERN
from tests.support.asgi import serve
from tests.support.lifecycle import ADMIN_HEADERS
from tests.support.predictor import settings_with


async def schemas_of(client: httpx.AsyncClient) -> dict[str, Any]:
    document = (await client.get("/openapi.json")).json()
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


async def train(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/train", json=body, headers=ADMIN_HEADERS)


@pytest.mark.parametrize("blank", ["", "  ", "\u001c", "\u2028\u3000"])
async def test_blank_input_is_422_and_the_schema_says_so(
    client: httpx.AsyncClient, blank: str
) -> None:
    response = await client.post("/predict", json={"input": blank})
    schemas = await schemas_of(client)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "blank"
    assert schemas["PredictRequest"]["properties"]["input"]["pattern"] == NON_BLANK_PATTERN


async def test_openapi_max_length_of_input_follows_max_input_chars(
    settings: Settings, tiny_model: LoadedModel
) -> None:
    app = create_app(settings_with(settings, MAX_INPUT_CHARS=30), model=tiny_model)
    async with serve(app) as client:
        schemas = await schemas_of(client)
        at_limit = await client.post("/predict", json={"input": "a" * 30})
        over = await client.post("/predict", json={"input": "a" * 31})

    assert schemas["PredictRequest"]["properties"]["input"]["maxLength"] == 30
    assert (at_limit.status_code, over.status_code) == (200, 422)


async def test_openapi_limits_of_training_examples_follow_the_settings(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    configured = settings_with(admin_settings, MAX_INPUT_CHARS=40, TRAIN_MAX_EXAMPLES=3)
    async with serve(create_app(configured)) as client:
        schemas = await schemas_of(client)
        too_many = await train(client, {"examples": [{"text": "a cat", "label": "cat"}] * 4})

    text = schemas["LabelledExample"]["properties"]["text"]
    assert (text["maxLength"], text["pattern"]) == (40, NON_BLANK_PATTERN)
    assert schemas["TrainRequest"]["properties"]["examples"]["maxItems"] == 3
    assert too_many.status_code == 422


async def test_feature_set_names_outside_the_pattern_are_422_and_the_schema_closes_them(
    admin_client: httpx.AsyncClient,
) -> None:
    response = await train(admin_client, {"params": {"features": {"not a name": {}}}})
    features = (await schemas_of(admin_client))["TrainingParams"]["properties"]["features"]

    assert response.status_code == 422
    assert list(features["patternProperties"]) == ["^[A-Za-z_][A-Za-z0-9_]*$"]
    assert features["additionalProperties"] is False


async def test_documented_ngram_ranges_are_exactly_those_accepted(
    admin_client: httpx.AsyncClient,
) -> None:
    schemas = await schemas_of(admin_client)
    [documented, _null] = schemas["FeatureParams"]["properties"]["ngram_range"]["anyOf"]
    every_pair = [[low, high] for low in range(-1, MAX_NGRAM + 2) for high in range(-1, 13)]

    accepted = []
    for pair in every_pair:
        try:
            ordered_ngram_range((pair[0], pair[1]))
        except ValueError:
            continue
        accepted.append(pair)

    assert documented["enum"] == accepted
    assert [3, 1] not in documented["enum"]


async def test_whole_number_written_with_a_fraction_is_an_integer_as_in_json_schema(
    admin_client: httpx.AsyncClient,
) -> None:
    response = await train(admin_client, {"params": {"max_iter": 50.0}, "activate": "never"})

    assert response.status_code == 202, response.text
    assert response.json()["params"] == {"max_iter": 50}


async def test_accepted_training_job_has_the_documented_location(
    admin_client: httpx.AsyncClient,
) -> None:
    response = await train(admin_client, {"activate": "never"})
    document = (await admin_client.get("/openapi.json")).json()

    location = document["paths"]["/train"]["post"]["responses"]["202"]["headers"]["Location"]
    assert response.status_code == 202
    assert location["required"] is True
    assert re.fullmatch(location["schema"]["pattern"], response.headers["location"])


async def test_conflict_with_the_served_model_is_a_documented_409_in_the_422_shape(
    admin_client: httpx.AsyncClient,
) -> None:
    response = await train(admin_client, {"examples": [{"text": "a hamster", "label": "hamster"}]})
    document = (await admin_client.get("/openapi.json")).json()

    conflict = document["paths"]["/train"]["post"]["responses"]["409"]
    assert response.status_code == 409
    assert response.json()["detail"][0]["type"] == "unknown_class"
    assert conflict["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ValidationErrorBody"
    )
