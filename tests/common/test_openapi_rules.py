"""What both services' OpenAPI documents say about every route: the non-blank rule reads
the same in every regex engine and is the services' own check, X-Request-ID is taken on
every operation and never refused, and every operation documents its 500."""

import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import respx
from pydantic import StringConstraints, TypeAdapter, ValidationError

from gateway.main import create_app as create_gateway
from predictor.main import create_app as create_predictor
from service_common.logging_setup import REQUEST_ID_PATTERN
from service_common.openapi import complete_openapi
from service_common.text import NON_BLANK_PATTERN, is_blank
from tests.support.asgi import serve
from tests.support.fake_pipeline import FakePipeline, fake_model
from tests.support.gateway import PREDICTION, PREDICTOR_BASE_URL
from tests.support.gateway import make_settings as gateway_settings
from tests.support.predictor import predictor_settings

WHITESPACE = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()]
# The characters next to each run of whitespace, and U+FEFF (whitespace to ECMAScript's \s).
NEIGHBOURS = "\u0008\u000e\u001b\u0021\u0084\u0086\u009f\u00a1\u167f\u1681\u1fff\u200b"
NEIGHBOURS += "\u2027\u202a\u202e\u2030\u205e\u2060\u2fff\u3001\ufeff"


@pytest.fixture(params=["gateway", "predictor"])
async def service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of each service in turn (the gateway before a mocked predictor)."""
    if request.param == "gateway":
        predictor = respx.Router(base_url=PREDICTOR_BASE_URL)
        predictor.post("/predict").respond(200, json=PREDICTION)
        app = create_gateway(
            gateway_settings(), transport=httpx.MockTransport(predictor.async_handler)
        )
    else:
        settings = predictor_settings(tmp_path / "training.toml", tmp_path / "models")
        app = create_predictor(settings, model=fake_model(FakePipeline()))
    async with serve(app) as client:
        yield client


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_blank_is_what_str_isspace_says_for_every_character() -> None:
    mismatches = [
        code
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF and is_blank(chr(code)) != chr(code).isspace()
    ]

    assert mismatches == []


def test_blank_pattern_reads_the_same_in_pydantics_rust_regex_engine() -> None:
    non_blank = TypeAdapter(Annotated[str, StringConstraints(pattern=NON_BLANK_PATTERN)])

    for character in WHITESPACE:
        with pytest.raises(ValidationError):
            non_blank.validate_python(character * 2)
    for character in NEIGHBOURS:
        assert non_blank.validate_python(f" {character}\u3000") == f" {character}\u3000"


@pytest.mark.parametrize("text", ["", " ", "\t\n", "\u001c\u0085\u3000", "\u2028\u00a0"])
def test_empty_or_whitespace_only_text_is_blank(text: str) -> None:
    assert is_blank(text)


@pytest.mark.parametrize("text", ["a", "  a  ", "\u3000cat\u3000", "\ufeff", "\u200b"])
def test_text_with_one_other_character_is_not_blank(text: str) -> None:
    assert not is_blank(text)


async def test_every_operation_takes_x_request_id_without_a_pattern(
    service: httpx.AsyncClient,
) -> None:
    document = (await service.get("/openapi.json")).json()

    for name, operation in operations(document):
        [parameter] = [p for p in operation["parameters"] if p["name"] == "X-Request-ID"]
        assert parameter["in"] == "header" and parameter["required"] is False, name
        assert parameter["schema"] == {"type": "string"}, name
        assert "replaced by a generated id" in parameter["description"], name


async def test_every_answer_documents_the_request_id_it_carries(
    service: httpx.AsyncClient,
) -> None:
    document = (await service.get("/openapi.json")).json()

    for name, operation in operations(document):
        for status, response in operation["responses"].items():
            header = response["headers"]["X-Request-ID"]
            assert header["required"] is True, (name, status)
            assert header["schema"]["pattern"] == REQUEST_ID_PATTERN, (name, status)


async def test_every_operation_documents_a_500(service: httpx.AsyncClient) -> None:
    document = (await service.get("/openapi.json")).json()

    for name, operation in operations(document):
        assert "500" in operation["responses"], name


@pytest.mark.parametrize(
    "sent", [b"", b" ", b"a" * 65, b"has space", b"tab\tbed", "ünï".encode(), b"x,y"]
)
async def test_request_id_the_documents_do_not_reuse_is_replaced_never_refused(
    service: httpx.AsyncClient, sent: bytes
) -> None:
    response = await service.get("/health", headers=[(b"X-Request-ID", sent)])

    assert response.status_code == 200
    assert re.fullmatch(REQUEST_ID_PATTERN, response.headers["x-request-id"])
    assert response.headers["x-request-id"].encode() != sent


@pytest.mark.parametrize(
    "sent", ["a", "A" * 64, "req-42.a_b:c", "0af7651916cd43dd8448eb211c80319c"]
)
async def test_request_id_matching_the_documented_pattern_is_kept(
    service: httpx.AsyncClient, sent: str
) -> None:
    response = await service.get("/health", headers={"X-Request-ID": sent})

    assert re.fullmatch(REQUEST_ID_PATTERN, sent)
    assert response.headers["x-request-id"] == sent


def test_limit_for_a_schema_the_document_lacks_is_an_error() -> None:
    document: dict[str, Any] = {
        "paths": {},
        "components": {"schemas": {"Known": {"properties": {}}}},
    }

    with pytest.raises(KeyError):
        complete_openapi(document, {"Renamed": {"data": {"maxLength": 5}}})
    with pytest.raises(KeyError):
        complete_openapi(document, {"Known": {"renamed": {"maxLength": 5}}})
