"""Settings from the environment, the OpenAPI document and the offline docs pages."""

import re
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from gateway.config import Settings
from gateway.main import create_app
from service_common.middleware import CONTENT_SECURITY_POLICY
from tests.support.openapi import has_example


def test_defaults_are_the_lab_defaults() -> None:
    settings = Settings()

    assert settings.predict_url == "http://localhost:8001/predict"
    assert settings.ready_url == "http://localhost:8001/ready"
    assert settings.MAX_DATA_CHARS == 10_000
    assert settings.MAX_BODY_BYTES == 1_048_576
    assert settings.SERVICE_B_TRANSPORT == "aiohttp"


def test_settings_come_from_upper_case_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVICE_B_URL", "http://predictor:9000")
    monkeypatch.setenv("SERVICE_B_READ_TIMEOUT", "2.5")
    monkeypatch.setenv("LOG_FORMAT", "JSON")

    settings = Settings()

    assert settings.predict_url == "http://predictor:9000/predict"
    assert settings.SERVICE_B_READ_TIMEOUT == 2.5
    assert settings.LOG_FORMAT == "json"


@pytest.mark.parametrize("base", ["http://predictor:9000", "http://predictor:9000/"])
def test_predict_and_ready_urls_derive_from_the_base_url(base: str) -> None:
    settings = Settings(SERVICE_B_URL=base)

    assert (settings.predict_url, settings.ready_url) == (
        "http://predictor:9000/predict",
        "http://predictor:9000/ready",
    )


def test_base_url_may_carry_a_path_prefix() -> None:
    settings = Settings(SERVICE_B_URL="http://proxy:8080/predictor/")

    assert (settings.predict_url, settings.ready_url) == (
        "http://proxy:8080/predictor/predict",
        "http://proxy:8080/predictor/ready",
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("SERVICE_B_URL", "not a url"),
        ("SERVICE_B_CONNECT_TIMEOUT", 0),
        ("SERVICE_B_POOL_SIZE", 0),
        ("LOG_FORMAT", "xml"),
        ("SERVICE_B_TRANSPORT", "curl"),
        ("PORT", 70_000),
        ("SERVICE_B_URL", "http://predictor:8001/predict"),
    ],
)
def test_invalid_setting_is_refused(field: str, value: object) -> None:
    values: dict[str, Any] = {field: value}

    with pytest.raises(ValidationError):
        Settings(**values)


def test_every_setting_is_documented() -> None:
    assert all(field.description for field in Settings.model_fields.values())


@pytest.mark.parametrize(
    "method, path, statuses",
    [
        ("get", "/", {"200", "500"}),
        ("get", "/health", {"200", "500"}),
        ("get", "/ready", {"200", "500", "503"}),
        (
            "post",
            "/process",
            {"200", "401", "404", "409", "413", "422", "429", "500", "502", "503", "504"},
        ),
    ],
)
def test_openapi_documents_every_status_with_an_example(
    method: str, path: str, statuses: set[str]
) -> None:
    spec = create_app().openapi()
    responses = spec["paths"][path][method]["responses"]

    assert set(responses) == statuses
    for status in statuses:
        assert has_example(spec, responses[status]), status


def test_openapi_has_title_description_version_and_tags() -> None:
    spec = create_app().openapi()

    assert spec["info"]["title"] and spec["info"]["description"] and spec["info"]["version"]
    assert {tag["name"] for tag in spec["tags"]} == {"gateway", "service"}
    for operations in spec["paths"].values():
        assert all(operation["tags"] for operation in operations.values())


async def test_docs_pages_are_served(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc", "/openapi.json"):
        assert (await client.get(page)).status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_assets_from_the_service_only(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)

    assert assets
    for asset in assets:
        assert asset.startswith("/static-offline-docs/"), asset
        assert (await client.get(asset)).status_code == 200, asset
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


async def test_swagger_ui_shows_no_online_validator_badge(client: httpx.AsyncClient) -> None:
    assert '"validatorUrl": null' in (await client.get("/docs")).text
