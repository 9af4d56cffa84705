"""The admin API's guard: off (403) without ADMIN_TOKEN, 401 without the right bearer
token, open to the right one; the inference routes need none, and the token is never
logged."""

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from predictor.config import Settings
from predictor.main import create_app
from tests.support.asgi import serve
from tests.support.lifecycle import ADMIN_HEADERS, ADMIN_TOKEN, job_reaching
from tests.support.logs import captured_log
from tests.support.predictor import settings_with

UNKNOWN_JOB = "0" * 32
ADMIN_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/train", {}),
    ("GET", "/train/jobs", None),
    ("GET", f"/train/jobs/{UNKNOWN_JOB}", None),
    ("GET", "/models", None),
    ("POST", "/models/v1/activate", None),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in ADMIN_ROUTES]
UNAUTHORIZED = {"detail": "Missing or invalid admin token"}
WRONG_AUTHORIZATIONS = {
    "another token": "Bearer another-token-of-the-same-size-xx",
    "the token cut short": f"Bearer {ADMIN_TOKEN[:-1]}",
    "the token and more": f"Bearer {ADMIN_TOKEN}x",
    "the token in another scheme": f"Basic {ADMIN_TOKEN}",
    "the token without a scheme": ADMIN_TOKEN,
    "an empty bearer": "Bearer ",
}


async def call(
    client: httpx.AsyncClient,
    route: tuple[str, str, dict[str, Any] | None],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    method, path, body = route
    return await client.request(method, path, json=body, headers=headers)


@pytest.fixture
async def admin_off_client(
    settings: Settings, models_with_versions: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app without ADMIN_TOKEN."""
    async with serve(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=ROUTE_IDS)
async def test_admin_route_answers_403_while_admin_token_is_unset(
    admin_off_client: httpx.AsyncClient, route: tuple[str, str, dict[str, Any] | None]
) -> None:
    response = await call(admin_off_client, route, ADMIN_HEADERS)

    assert response.status_code == 403
    assert response.json() == {"detail": "Admin API is disabled"}


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=ROUTE_IDS)
async def test_admin_route_without_a_token_answers_401_asking_for_bearer(
    admin_client: httpx.AsyncClient, route: tuple[str, str, dict[str, Any] | None]
) -> None:
    response = await call(admin_client, route)

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=ROUTE_IDS)
async def test_admin_route_with_a_wrong_token_answers_401_asking_for_bearer(
    admin_client: httpx.AsyncClient, route: tuple[str, str, dict[str, Any] | None]
) -> None:
    response = await call(admin_client, route, {"Authorization": "Bearer not-the-admin-token"})

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization", WRONG_AUTHORIZATIONS.values(), ids=WRONG_AUTHORIZATIONS.keys()
)
async def test_anything_but_the_bearer_token_is_refused(
    admin_client: httpx.AsyncClient, authorization: str
) -> None:
    response = await admin_client.get("/models", headers={"Authorization": authorization})

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("route", "status"),
    list(zip(ADMIN_ROUTES, [202, 200, 404, 200, 200], strict=True)),
    ids=ROUTE_IDS,
)
async def test_admin_route_with_the_token_is_served(
    admin_client: httpx.AsyncClient, route: tuple[str, str, dict[str, Any] | None], status: int
) -> None:
    response = await call(admin_client, route, ADMIN_HEADERS)

    assert response.status_code == status, response.text


async def test_bearer_scheme_is_case_insensitive(admin_client: httpx.AsyncClient) -> None:
    response = await admin_client.get("/models", headers={"Authorization": f"bearer {ADMIN_TOKEN}"})

    assert response.status_code == 200


async def test_bad_body_without_a_token_is_answered_401_not_422(
    admin_client: httpx.AsyncClient,
) -> None:
    response = await admin_client.post("/train", json={"params": {"learning_rate": 0.1}})

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/predict", {"input": "the kitten purrs"}),
        ("POST", "/models/v2/predict", {"input": "the kitten purrs"}),
        ("GET", "/model", None),
        ("GET", "/ready", None),
        ("GET", "/", None),
    ],
)
async def test_inference_and_service_routes_need_no_token(
    admin_client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await admin_client.request(method, path, json=body)

    assert response.status_code == 200, response.text


async def test_admin_token_never_appears_in_a_log_line(
    admin_settings: Settings, models_with_versions: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A job that fails at once still logs its way through the queue.
    settings = settings_with(admin_settings, TRAIN_TIMEOUT_S=0.01)

    with captured_log("predictor") as service_log:
        async with serve(create_app(settings)) as client:
            for authorization in [*WRONG_AUTHORIZATIONS.values(), f"Bearer {ADMIN_TOKEN}"]:
                headers = {"Authorization": authorization}
                for route in ADMIN_ROUTES:
                    await call(client, route, headers)
            job = await client.post("/train", json={"activate": "always"}, headers=ADMIN_HEADERS)
            await job_reaching(client, job.json()["job_id"])
            await client.post("/models/v9/activate", headers=ADMIN_HEADERS)

    lines = service_log.getvalue() + caplog.text
    assert "Activated model v1" in lines  # the capture works: it has the admin API's lines
    assert "Training job" in lines
    assert ADMIN_TOKEN not in lines
    assert ADMIN_TOKEN[:16] not in lines
