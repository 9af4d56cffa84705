"""Bad /process bodies: 422 or 413, and never a call to the predictor."""

from collections.abc import AsyncIterator

import httpx
import pytest
import respx

BAD_BODIES = {
    "data missing": {"forward_to_model": True},
    "data a number": {"data": 42},
    "data null": {"data": None},
    "data a list": {"data": ["cat"]},
    "forward_to_model a string": {"data": "cat", "forward_to_model": "yes"},
    "forward_to_model a number": {"data": "cat", "forward_to_model": 1},
    "forward_to_model null": {"data": "cat", "forward_to_model": None},
    "body a list": [{"data": "cat"}],
    "body a string": "cat",
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_invalid_body_gives_422_without_calling_predictor(
    client: httpx.AsyncClient, predictor: respx.Router, body: object
) -> None:
    response = await client.post("/process", json=body)

    assert response.status_code == 422
    assert response.json()["detail"]
    assert predictor.calls.call_count == 0


async def test_non_json_body_gives_422(client: httpx.AsyncClient, predictor: respx.Router) -> None:
    response = await client.post(
        "/process", content=b"data=cat", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert predictor.calls.call_count == 0


async def test_data_longer_than_limit_gives_422_without_calling_predictor(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    # The test settings allow 100 characters.
    response = await client.post("/process", json={"data": "x" * 101, "forward_to_model": True})

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "string_too_long",
                "loc": ["body", "data"],
                "msg": "String should have at most 100 characters",
                "ctx": {"max_length": 100},
            }
        ]
    }
    assert predictor.calls.call_count == 0


async def test_data_at_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/process", json={"data": "é" * 100, "forward_to_model": False})

    assert response.status_code == 200


async def test_blank_data_to_forward_gives_422_without_calling_predictor(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    response = await client.post("/process", json={"data": " \n\t", "forward_to_model": True})

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "blank"
    assert predictor.calls.call_count == 0


async def test_blank_data_can_still_be_logged(client: httpx.AsyncClient) -> None:
    response = await client.post("/process", json={"data": "", "forward_to_model": False})

    assert response.status_code == 200


async def test_body_over_byte_limit_with_content_length_gives_413(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    # The test settings allow 1,000 bytes.
    response = await client.post("/process", json={"data": "x" * 1_200})

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large"}
    assert predictor.calls.call_count == 0


async def test_declared_length_over_limit_gives_413_before_reading_the_body(
    client: httpx.AsyncClient,
) -> None:
    chunks_read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks_read
        for _ in range(100):
            chunks_read += 1
            yield b"x" * 100

    response = await client.post(
        "/process",
        content=body(),
        headers={"Content-Type": "application/json", "Content-Length": "10000"},
    )

    assert response.status_code == 413
    assert chunks_read == 0


async def test_chunked_body_over_limit_gives_413_without_reading_it_all(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    chunks_read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks_read
        yield b'{"data": "'
        for _ in range(100):
            chunks_read += 1
            yield b"x" * 100
        yield b'"}'

    response = await client.post(
        "/process", content=body(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large"}
    assert chunks_read < 100
    assert predictor.calls.call_count == 0


async def test_chunked_body_under_limit_is_accepted(client: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"data": "cat", '
        yield b'"forward_to_model": false}'

    response = await client.post(
        "/process", content=body(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200


async def test_form_encoded_body_gives_422_that_names_the_content_type(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    response = await client.post("/process", data={"data": "cat"})

    assert response.status_code == 422
    assert "Content-Type: application/json" in response.json()["detail"][0]["msg"]
    assert predictor.calls.call_count == 0


async def test_json_body_that_is_not_utf8_gives_422(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    response = await client.post(
        "/process", content=b'{"data": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert predictor.calls.call_count == 0


async def test_validation_errors_do_not_echo_the_input(client: httpx.AsyncClient) -> None:
    secret = "x" * 50
    response = await client.post("/process", json={"data": 42, "note": secret})

    assert response.status_code == 422
    assert "input" not in response.json()["detail"][0]
    assert secret not in response.text


async def test_lone_surrogate_is_422_and_never_forwarded(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    response = await client.post(
        "/process", content=b'{"data": "\\ud800"}', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert "valid Unicode" in response.json()["detail"][0]["msg"]
    assert predictor.calls.call_count == 0
