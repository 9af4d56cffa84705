"""The gateway's resilience, end to end with a mocked predictor: one safe retry, the
circuit breaker in front of /predict, and what /ready says of it."""

from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from gateway.main import create_app
from tests.support.asgi import serve
from tests.support.gateway import PREDICTION, PREDICTOR_BASE_URL, make_settings, replica_status

FORWARD = {"data": "cat image data", "forward_to_model": True}
RESET = httpx.RemoteProtocolError("Server disconnected without sending a response.")
READY_BODY = {"status": "ready", "model_version": "v1"}


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=PREDICTOR_BASE_URL)


@pytest.fixture
async def gateway(router: respx.Router) -> AsyncIterator[httpx.AsyncClient]:
    """Breaker after 3 failures, open 30 s; retry budget 50 %."""
    settings = make_settings(
        BREAKER_FAILURES=3, BREAKER_OPEN_S=30, BREAKER_MAX_OPEN_S=60, RETRY_BUDGET_RATIO=0.5
    )
    app = create_app(settings, transport=httpx.MockTransport(router.async_handler))
    async with serve(app) as client:
        yield client


async def warm_up(gateway: httpx.AsyncClient, count: int) -> None:
    """Successful calls, so the retry budget has calls to take its share of."""
    for _ in range(count):
        assert (await gateway.post("/process", json=FORWARD)).status_code == 200


async def test_a_call_reset_before_any_answer_is_retried_once(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    route = router.post("/predict")
    route.side_effect = [httpx.Response(200, json=PREDICTION)] * 4 + [
        RESET,
        httpx.Response(200, json=PREDICTION),
    ]
    await warm_up(gateway, 4)

    response = await gateway.post("/process", json=FORWARD)

    assert response.status_code == 200
    assert route.call_count == 6


async def test_a_reset_that_survives_its_retry_is_a_503_not_a_502(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    route = router.post("/predict")
    route.side_effect = [httpx.Response(200, json=PREDICTION)] * 4 + [RESET, RESET]
    await warm_up(gateway, 4)

    response = await gateway.post("/process", json=FORWARD)

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}
    assert route.call_count == 6


async def test_a_timeout_is_never_retried(gateway: httpx.AsyncClient, router: respx.Router) -> None:
    route = router.post("/predict")
    route.side_effect = [httpx.Response(200, json=PREDICTION)] * 4 + [
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json=PREDICTION),
    ]
    await warm_up(gateway, 4)

    response = await gateway.post("/process", json=FORWARD)

    assert response.status_code == 504
    assert route.call_count == 5


async def test_a_refused_connection_is_not_retried(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    route = router.post("/predict")
    route.side_effect = [httpx.Response(200, json=PREDICTION)] * 4 + [
        httpx.ConnectError("refused"),
        httpx.Response(200, json=PREDICTION),
    ]
    await warm_up(gateway, 4)

    response = await gateway.post("/process", json=FORWARD)

    assert response.status_code == 503
    assert route.call_count == 5


async def test_without_budget_a_reset_is_not_retried(router: respx.Router) -> None:
    # The first call of all: 50 % of one call leaves no whole retry, and no minimum.
    route = router.post("/predict")
    route.side_effect = [RESET, httpx.Response(200, json=PREDICTION)]
    settings = make_settings(RETRY_BUDGET_RATIO=0.5, RETRY_BUDGET_MIN=0)
    app = create_app(settings, transport=httpx.MockTransport(router.async_handler))

    async with serve(app) as gateway:
        response = await gateway.post("/process", json=FORWARD)

    assert response.status_code == 503
    assert route.call_count == 1


async def test_the_minimum_budget_retries_the_first_call(router: respx.Router) -> None:
    route = router.post("/predict")
    route.side_effect = [RESET, httpx.Response(200, json=PREDICTION)]
    settings = make_settings(RETRY_BUDGET_RATIO=0.5, RETRY_BUDGET_MIN=1)
    app = create_app(settings, transport=httpx.MockTransport(router.async_handler))

    async with serve(app) as gateway:
        response = await gateway.post("/process", json=FORWARD)

    assert response.status_code == 200
    assert route.call_count == 2


async def test_the_breaker_opens_and_then_refuses_without_calling(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    route = router.post("/predict").mock(side_effect=httpx.ConnectError("refused"))
    failing = [await gateway.post("/process", json=FORWARD) for _ in range(3)]
    calls_before = route.call_count

    refused = [await gateway.post("/process", json=FORWARD) for _ in range(10)]

    assert {r.status_code for r in failing + refused} == {503}
    assert route.call_count == calls_before
    assert all(r.json() == {"detail": "Service B is unavailable"} for r in refused)
    assert all(1 <= int(r.headers["retry-after"]) <= 30 for r in refused)


async def test_503_answers_of_the_predictor_open_the_breaker(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    route = router.post("/predict").respond(503, json={"detail": "Model is not loaded yet"})
    for _ in range(3):
        await gateway.post("/process", json=FORWARD)

    await gateway.post("/process", json=FORWARD)

    assert route.call_count == 3


async def test_odd_answers_do_not_open_the_breaker(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    route = router.post("/predict").respond(200, json={"not": "a prediction"})

    statuses = [(await gateway.post("/process", json=FORWARD)).status_code for _ in range(6)]

    assert statuses == [502] * 6
    assert route.call_count == 6


async def test_logged_only_inputs_are_answered_while_the_breaker_is_open(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    router.post("/predict").mock(side_effect=httpx.ConnectError("refused"))
    for _ in range(3):
        await gateway.post("/process", json=FORWARD)

    response = await gateway.post("/process", json={"data": "x", "forward_to_model": False})

    assert response.status_code == 200


async def test_ready_reports_a_closed_breaker(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    router.get("/ready").respond(200, json=READY_BODY)

    response = await gateway.get("/ready")

    assert response.json() == {
        "status": "ready",
        "service_b": "ready",
        "breaker": "closed",
        "replicas": [replica_status("ready")],
    }


async def test_ready_is_503_with_the_breaker_open_without_asking_the_predictor(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    router.post("/predict").mock(side_effect=httpx.ConnectError("refused"))
    ready = router.get("/ready").respond(200, json=READY_BODY)
    for _ in range(3):
        await gateway.post("/process", json=FORWARD)

    response = await gateway.get("/ready")

    assert response.status_code == 503
    assert response.json() == {
        "detail": "Service B is not ready",
        "breaker": "open",
        "replicas": [replica_status("not_ready", "open")],
    }
    assert ready.call_count == 0


async def test_with_the_breaker_off_every_call_goes_to_the_predictor(
    router: respx.Router,
) -> None:
    route = router.post("/predict").mock(side_effect=httpx.ConnectError("refused"))
    app = create_app(
        make_settings(BREAKER_ENABLED=False), transport=httpx.MockTransport(router.async_handler)
    )
    async with serve(app) as client:
        for _ in range(10):
            await client.post("/process", json=FORWARD)
        ready_route = router.get("/ready").respond(200, json=READY_BODY)
        ready = await client.get("/ready")

    assert route.call_count == 10
    assert ready_route.call_count == 1
    assert ready.json() == {
        "status": "ready",
        "service_b": "ready",
        "breaker": None,
        "replicas": [replica_status("ready", None)],
    }
