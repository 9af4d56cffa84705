"""Settings from the environment, and the OpenAPI document."""

import httpx
import pytest
from pydantic import ValidationError

from gateway.config import Settings
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
    responses = create_app().openapi()["paths"][path][method]["responses"]

    assert set(responses) == statuses
    for status in statuses - {"200"}:
        content = responses[status]["content"]["application/json"]
        assert "example" in content or "examples" in content


async def test_docs_pages_are_served(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc", "/openapi.json"):
        assert (await client.get(page)).status_code == 200
