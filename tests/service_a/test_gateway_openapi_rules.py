"""The gateway's OpenAPI document states the rules `POST /process` enforces: a client built
from it sends nothing the gateway refuses, and refuses nothing the gateway takes."""

from typing import Any

import httpx
import pytest
import respx

from gateway.main import create_app
from service_common.text import NON_BLANK_PATTERN
from tests.support.asgi import serve
from tests.support.gateway import PREDICTION, make_settings


async def process_request_schema(client: httpx.AsyncClient) -> dict[str, Any]:
    document = (await client.get("/openapi.json")).json()
    schema: dict[str, Any] = document["components"]["schemas"]["ProcessRequest"]
    return schema


@pytest.mark.parametrize("blank", ["", " ", "\u001c", "\u3000\n"])
async def test_blank_data_to_forward_is_422_and_the_schema_says_so(
    client: httpx.AsyncClient, blank: str
) -> None:
    response = await client.post("/process", json={"data": blank})
    schema = await process_request_schema(client)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "blank"
    # Unless forward_to_model is false (the `if`), data must match the pattern.
    assert schema["if"] == {
        "properties": {"forward_to_model": {"const": False}},
        "required": ["forward_to_model"],
    }
    assert schema["else"] == {"properties": {"data": {"pattern": NON_BLANK_PATTERN}}}


async def test_blank_data_only_logged_is_accepted_and_the_schema_says_so(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/process", json={"data": " ", "forward_to_model": False})
    schema = await process_request_schema(client)

    assert response.status_code == 200
    assert "pattern" not in schema["properties"]["data"]
    assert "then" not in schema


async def test_openapi_max_length_of_data_follows_max_data_chars(
    predictor: respx.Router,
) -> None:
    predictor.post("/predict").respond(200, json=PREDICTION)
    app = create_app(
        make_settings(MAX_DATA_CHARS=50), transport=httpx.MockTransport(predictor.async_handler)
    )
    async with serve(app) as client:
        schema = await process_request_schema(client)
        at_limit = await client.post("/process", json={"data": "a" * 50})
        over = await client.post("/process", json={"data": "a" * 51})

    assert schema["properties"]["data"]["maxLength"] == 50
    assert (at_limit.status_code, over.status_code) == (200, 422)


async def test_forward_to_model_is_a_json_boolean_as_the_schema_says(
    client: httpx.AsyncClient,
) -> None:
    schema = await process_request_schema(client)

    for value in ("true", 1, None):
        response = await client.post("/process", json={"data": "cat", "forward_to_model": value})
        assert response.status_code == 422, value
    assert schema["properties"]["forward_to_model"]["type"] == "boolean"


async def test_empty_request_id_is_replaced_and_the_schema_does_not_call_it_invalid(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/process",
        json={"data": "cat", "forward_to_model": False},
        headers=[(b"X-Request-ID", b"")],
    )
    document = (await client.get("/openapi.json")).json()

    [parameter] = document["paths"]["/process"]["post"]["parameters"]
    assert response.status_code == 200
    assert response.headers["x-request-id"]
    assert parameter["name"] == "X-Request-ID"
    assert "pattern" not in parameter["schema"]
