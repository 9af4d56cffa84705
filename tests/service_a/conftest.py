"""Fixtures of the gateway's tests: a respx-mocked predictor and the gateway in front of it."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from gateway.main import create_app
from tests.support.asgi import serve
from tests.support.gateway import PREDICTOR_BASE_URL, make_settings


@pytest.fixture
def predictor() -> Iterator[respx.Router]:
    """A mocked predictor; every route a test registers must be called."""
    router = respx.Router(base_url=PREDICTOR_BASE_URL, assert_all_called=True)
    yield router
    router.assert_all_called()


@pytest.fixture
async def client(predictor: respx.Router) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with test settings, in front of the mocked predictor."""
    app = create_app(make_settings(), transport=httpx.MockTransport(predictor.async_handler))
    async with serve(app) as client:
        yield client
