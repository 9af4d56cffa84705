"""The predictor names itself (REPLICA_NAME) in X-Served-By on every answer."""

from collections.abc import AsyncIterator

import httpx
import pytest

from predictor.config import Settings
from predictor.main import create_app
from predictor.model import LoadedModel
from service_common.settings import load_settings
from tests.support.asgi import serve
from tests.support.predictor import settings_with

NAME = "predictor-7.lab"


@pytest.fixture
async def named_client(
    settings: Settings, tiny_model: LoadedModel
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_with(settings, REPLICA_NAME=NAME), model=tiny_model)
    async with serve(app) as client:
        yield client


async def test_a_prediction_names_the_replica(named_client: httpx.AsyncClient) -> None:
    response = await named_client.post("/predict", json={"input": "a tiny test"})
    assert response.status_code == 200
    assert response.headers["x-served-by"] == NAME


async def test_health_names_the_replica(named_client: httpx.AsyncClient) -> None:
    response = await named_client.get("/health")
    assert response.headers["x-served-by"] == NAME


async def test_an_error_names_the_replica(named_client: httpx.AsyncClient) -> None:
    response = await named_client.post("/predict", json={"wrong": 1})
    assert response.status_code == 422
    assert response.headers["x-served-by"] == NAME


@pytest.mark.parametrize("name", ["two words", ""], ids=["space", "empty"])
def test_a_bad_replica_name_is_refused_at_start_up(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLICA_NAME", name)
    with pytest.raises(SystemExit) as exited:
        load_settings(Settings)
    message = str(exited.value.code)
    assert len(message.splitlines()) == 1, message
    assert "REPLICA_NAME" in message
