"""Settings from the environment, the OpenAPI document and the offline docs pages."""

import re
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from gateway.config import Settings
from gateway.docs import CONTENT_SECURITY_POLICY
from gateway.main import create_app


def test_defaults_are_the_lab_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)

    settings = Settings()

    assert settings.predict_url == "http://localhost:8001/predict"
    assert settings.MAX_DATA_CHARS == 10_000
    assert settings.MAX_BODY_BYTES == 1_048_576
    assert settings.SERVICE_B_TRANSPORT == "aiohttp"


def test_settings_come_from_upper_case_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVICE_B_URL", "http://predictor:9000/predict")
    monkeypatch.setenv("SERVICE_B_READ_TIMEOUT", "2.5")
    monkeypatch.setenv("LOG_FORMAT", "JSON")

    settings = Settings()

    assert settings.predict_url == "http://predictor:9000/predict"
    assert settings.SERVICE_B_READ_TIMEOUT == 2.5
    assert settings.LOG_FORMAT == "json"


def test_ready_url_defaults_to_predictor_ready_path() -> None:
    settings = Settings(SERVICE_B_URL="http://predictor:9000/api/predict?x=1")

    assert settings.ready_url == "http://predictor:9000/ready"


def test_ready_url_can_be_set() -> None:
    settings = Settings(SERVICE_B_READY_URL="http://predictor:9000/healthz/ready")

    assert settings.ready_url == "http://predictor:9000/healthz/ready"


@pytest.mark.parametrize(
    "field, value",
    [
        ("SERVICE_B_URL", "not a url"),
        ("SERVICE_B_CONNECT_TIMEOUT", 0),
        ("SERVICE_B_POOL_SIZE", 0),
        ("LOG_FORMAT", "xml"),
        ("SERVICE_B_TRANSPORT", "curl"),
        ("PORT", 70_000),
    ],
)
def test_invalid_setting_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})


def test_every_setting_is_documented() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def has_example(spec: dict[str, Any], response: dict[str, Any]) -> bool:
    """Whether a documented response shows an example body (its own, or its schema's)."""
    content = response["content"]["application/json"]
    schema = content.get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return any(key in content or key in schema for key in ("example", "examples"))


@pytest.mark.parametrize(
    "method, path, statuses",
    [
        ("get", "/", {"200"}),
        ("get", "/health", {"200"}),
        ("get", "/ready", {"200", "503"}),
        ("post", "/process", {"200", "413", "422", "500", "502", "503", "504"}),
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
