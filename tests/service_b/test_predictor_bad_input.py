"""Bad requests to POST /predict: each a 422 with a useful message, never a 500."""

from typing import Any

import httpx
import pytest

from predictor.config import Settings


def first_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail, response.text
    assert detail[0]["msg"], response.text
    first: dict[str, Any] = detail[0]
    return first


async def test_missing_input_is_422(client: httpx.AsyncClient) -> None:
    error = first_error(await client.post("/predict", json={}))

    assert error["type"] == "missing"
    assert error["loc"] == ["body", "input"]


@pytest.mark.parametrize("value", [42, 4.2, True], ids=["int", "float", "bool"])
async def test_number_input_is_422(client: httpx.AsyncClient, value: object) -> None:
    error = first_error(await client.post("/predict", json={"input": value}))

    assert error["loc"] == ["body", "input"]
    assert error["type"] == "string_type"


async def test_null_input_is_422(client: httpx.AsyncClient) -> None:
    error = first_error(await client.post("/predict", json={"input": None}))

    assert error["loc"] == ["body", "input"]
    assert error["type"] == "string_type"


async def test_list_input_is_422(client: httpx.AsyncClient) -> None:
    error = first_error(await client.post("/predict", json={"input": ["a cat"]}))

    assert error["loc"] == ["body", "input"]
    assert error["type"] == "string_type"


async def test_empty_input_is_422(client: httpx.AsyncClient) -> None:
    error = first_error(await client.post("/predict", json={"input": ""}))

    assert error["loc"] == ["body", "input"]
    assert "non-whitespace" in error["msg"]


@pytest.mark.parametrize("blank", [" ", "   \t\n  ", "\u00a0\u2003"], ids=["space", "mix", "nbsp"])
async def test_whitespace_only_input_is_422(client: httpx.AsyncClient, blank: str) -> None:
    error = first_error(await client.post("/predict", json={"input": blank}))

    assert error["loc"] == ["body", "input"]
    assert "non-whitespace" in error["msg"]


async def test_input_longer_than_limit_is_422_naming_the_limit(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    limit = settings.MAX_INPUT_CHARS
    error = first_error(await client.post("/predict", json={"input": "a" * (limit + 1)}))

    assert error == {
        "type": "string_too_long",
        "loc": ["body", "input"],
        "msg": f"String should have at most {limit} characters",
        "ctx": {"max_length": limit},
    }


async def test_input_of_exactly_the_limit_is_accepted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    limit = settings.MAX_INPUT_CHARS
    response = await client.post("/predict", json={"input": "c" * limit})

    assert response.status_code == 200
    assert response.json()["prediction"]["input_length"] == limit


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/predict", content=b'{"input": "a cat"', headers={"content-type": "application/json"}
    )

    assert first_error(response)["type"] == "json_invalid"


async def test_json_body_that_is_not_utf8_is_422(client: httpx.AsyncClient) -> None:
    body = '{"input": "un café"}'.encode("latin-1")

    response = await client.post(
        "/predict", content=body, headers={"content-type": "application/json"}
    )

    first_error(response)


async def test_json_array_body_is_422_saying_an_object_is_expected(
    client: httpx.AsyncClient,
) -> None:
    error = first_error(await client.post("/predict", json=[{"input": "a cat"}]))

    assert "JSON object" in error["msg"]


async def test_json_string_body_is_422(client: httpx.AsyncClient) -> None:
    first_error(await client.post("/predict", json="a cat"))


async def test_form_encoded_body_is_422(client: httpx.AsyncClient) -> None:
    # What `curl -d input=cat` sends: no JSON content type.
    response = await client.post("/predict", data={"input": "a cat"})

    assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "Content-Type: application/json" in first_error(response)["msg"]


async def test_raw_text_body_without_content_type_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict", content=b"a cat on the mat")

    first_error(response)


async def test_empty_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/predict", content=b"", headers={"content-type": "application/json"}
    )

    first_error(response)


async def test_unknown_extra_field_is_422(client: httpx.AsyncClient) -> None:
    error = first_error(await client.post("/predict", json={"input": "a cat", "extra": 1}))

    assert error["type"] == "extra_forbidden"
    assert error["loc"] == ["body", "extra"]


async def test_validation_errors_do_not_echo_the_input(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict", json={"input": ["x" * 100_000]})

    first_error(response)
    assert "input" not in response.json()["detail"][0]
    assert len(response.content) < 1_000
