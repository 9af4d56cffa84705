"""/docs (Swagger UI) and /redoc (ReDoc) of both services in headless Chromium, offline.

Every page must render from the service alone: any request to another host fails the test
(the page's Content-Security-Policy may stop one in the browser; then nothing is sent).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest

from devkit.processes import ServiceProcess
from tests.browser.request_log import RequestLog

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Docs:
    service: str
    title: str
    operation: str  # the operation "Try it out" runs: its Swagger UI block id
    operation_summary: str
    response_key: str  # a key of the 200 body that shows the call really worked


DOCS = [
    Docs(
        "service_a",
        "Service A: gateway",
        "operations-gateway-process_input_process_post",
        "Process Input",
        "model_prediction",
    ),
    Docs(
        "service_b",
        "Service B: ML predictor",
        "operations-model-create_prediction_predict_post",
        "Create Prediction",
        "prediction",
    ),
]
by_service = pytest.mark.parametrize("docs", DOCS, ids=lambda docs: docs.service)


def documented_operations(service: ServiceProcess) -> set[tuple[str, str]]:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        spec = client.get(f"{service.url}/openapi.json").json()
    return {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


@by_service
def test_swagger_ui_lists_every_operation(
    page: tuple["Page", RequestLog], services: dict[str, ServiceProcess], docs: Docs
) -> None:
    tab, requests = page
    service = services[docs.service]

    tab.goto(f"{service.url}/docs")
    tab.locator(f"#{docs.operation}").wait_for()
    listed = tab.eval_on_selector_all(
        ".opblock-summary",
        """blocks => blocks.map(block => [
            block.querySelector('.opblock-summary-method').innerText,
            block.querySelector('.opblock-summary-path').dataset.path,
        ])""",
    )

    assert docs.title in tab.locator(".info .title").inner_text()
    assert {tuple(operation) for operation in listed} == documented_operations(service)
    requests.assert_clean()


@by_service
def test_swagger_ui_try_it_out_returns_200(
    page: tuple["Page", RequestLog], services: dict[str, ServiceProcess], docs: Docs
) -> None:
    tab, requests = page
    operation = tab.locator(f"#{docs.operation}")

    tab.goto(f"{services[docs.service].url}/docs")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()  # with the documented example body
    live_response = operation.locator(".live-responses-table .response")
    live_response.wait_for()

    assert live_response.locator(".response-col_status").inner_text().strip() == "200"
    assert f'"{docs.response_key}"' in live_response.locator(".highlight-code").inner_text()
    requests.assert_clean()


@by_service
def test_redoc_renders(
    page: tuple["Page", RequestLog], services: dict[str, ServiceProcess], docs: Docs
) -> None:
    tab, requests = page

    tab.goto(f"{services[docs.service].url}/redoc")
    title = tab.locator(".api-info h1")
    title.wait_for()
    operation = tab.locator("h2", has_text=docs.operation_summary)
    operation.wait_for()

    assert docs.title in title.inner_text()
    assert operation.inner_text().strip() == docs.operation_summary
    requests.assert_clean()
