"""X-Request-ID on the predictor: taken from the caller (the gateway) or generated, returned,
and printed in the log lines written while serving the request."""

import re

import httpx

from predictor.config import Settings
from predictor.main import create_app
from tests.support.asgi import serve
from tests.support.fake_pipeline import FakePipeline, fake_model
from tests.support.logs import captured_log

POISON = "this text breaks the model"


async def test_callers_request_id_is_returned(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/predict", json={"input": "a cat"}, headers={"X-Request-ID": "from-gateway-1"}
    )

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "from-gateway-1"


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_log_lines_written_while_serving_carry_the_request_id(settings: Settings) -> None:
    app = create_app(settings, model=fake_model(FakePipeline(poison=POISON)))

    async with serve(app) as client:
        with captured_log("predictor") as log:
            response = await client.post(
                "/predict", json={"input": POISON}, headers={"X-Request-ID": "trace-me-2"}
            )

    assert response.status_code == 500
    error_lines = [line for line in log.getvalue().splitlines() if " ERROR " in line]
    assert error_lines
    assert all(re.search(r"\[trace-me-2 [0-9a-f]{32}\]", line) for line in error_lines)
