"""The OpenAPI document and the offline docs pages (/docs, /redoc)."""

import re

import httpx
import pytest

from predictor.main import create_app
from service_common.middleware import CONTENT_SECURITY_POLICY
from tests.support.openapi import has_example


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/predict", {"200", "413", "422", "500", "503"}),
        ("get", "/ready", {"200", "500", "503"}),
        ("get", "/model", {"200", "500", "503"}),
        ("get", "/health", {"200", "500"}),
        ("get", "/", {"200", "500"}),
        ("post", "/models/{version}/predict", {"200", "404", "409", "413", "422", "500", "503"}),
        ("post", "/train", {"202", "401", "403", "409", "413", "422", "429", "500", "503"}),
        ("get", "/train/jobs", {"200", "401", "403", "422", "500"}),
        ("get", "/train/jobs/{job_id}", {"200", "401", "403", "404", "422", "500"}),
        ("get", "/models", {"200", "401", "403", "500"}),
        ("post", "/models/{version}/activate", {"200", "401", "403", "404", "409", "422", "500"}),
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


def test_openapi_documents_the_predict_request_with_an_example() -> None:
    spec = create_app().openapi()
    content = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]

    assert spec["components"]["schemas"]["PredictRequest"]["examples"]
    assert content["schema"]["$ref"].endswith("/PredictRequest")


def test_openapi_has_title_description_version_and_tags() -> None:
    spec = create_app().openapi()

    assert spec["info"]["title"] and spec["info"]["description"] and spec["info"]["version"]
    assert {tag["name"] for tag in spec["tags"]} == {"admin", "model", "service"}
    for operations in spec["paths"].values():
        assert all(operation["tags"] for operation in operations.values())


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_assets_from_the_service_only(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)

    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert assets
    for asset in assets:
        assert asset.startswith("/static-offline-docs/"), asset
        assert (await client.get(asset)).status_code == 200, asset
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


async def test_swagger_ui_shows_no_online_validator_badge(client: httpx.AsyncClient) -> None:
    assert '"validatorUrl": null' in (await client.get("/docs")).text


async def test_other_responses_carry_no_content_security_policy(
    client: httpx.AsyncClient,
) -> None:
    assert "content-security-policy" not in (await client.get("/openapi.json")).headers
