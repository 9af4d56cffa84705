"""Swagger UI of a gateway with API_KEYS, in headless Chromium: its Authorize button offers
both ways to send a key, and "Try it out" on POST /process works once a key is given (and
is refused without one).

The gateway runs alone (no predictor): the body sent is edited to forward_to_model=false.
"""

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from devkit.ports import free_port
from devkit.processes import GATEWAY_READY_TIMEOUT, ServiceProcess
from tests.browser.request_log import RequestLog

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

KEY = "browser-key-0123456789ab"
OPERATION = "#operations-gateway-process_input_process_post"
LOGGED_ONLY = json.dumps({"data": "typed in Swagger UI", "forward_to_model": False})
SCHEMES = {
    "ApiKeyHeader": ("x-api-key", KEY),
    "ApiKeyBearer": ("authorization", f"Bearer {KEY}"),
}
"""Each security scheme of the document, and the header Swagger UI then sends."""


@pytest.fixture(scope="module")
def services(
    browser_available: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    """Only the gateway, with one API key (this module's own, in place of conftest's)."""
    log_dir = tmp_path_factory.mktemp("keyed-gateway-logs")
    gateway = ServiceProcess(
        "service_a",
        free_port(),
        {"SERVICE_B_URL": f"http://127.0.0.1:{free_port()}", "API_KEYS": KEY},
        log_dir / "service_a.log",
    )
    try:
        gateway.start().wait_until_ok("/health", GATEWAY_READY_TIMEOUT)
        yield {"service_a": gateway}
    finally:
        gateway.stop()


def open_docs(tab: "Page", gateway: ServiceProcess) -> "Locator":
    """/docs, loaded; the POST /process block."""
    tab.goto(f"{gateway.url}/docs")
    operation = tab.locator(OPERATION)
    operation.wait_for()
    return operation


def authorize(tab: "Page", scheme: str, key: str) -> None:
    """Give `key` to Swagger UI's Authorize dialog, for `scheme`, and close it."""
    tab.locator("button.authorize").first.click()
    container = tab.locator(".auth-container", has=tab.locator("h4 code", has_text=scheme))
    container.locator("input").fill(key)
    container.locator("button.authorize").click()
    container.locator("button.btn-done").click()


def execute_logged_only(tab: "Page", operation: "Locator") -> tuple[dict[str, str], "Locator"]:
    """Try it out, with a body that is only logged; the headers of the request the page
    sent, and the live response block."""
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("textarea.body-param__text").fill(LOGGED_ONLY)
    with tab.expect_request(lambda request: request.url.endswith("/process")) as sent:
        operation.locator("button.execute").click()
    live_response = operation.locator(".live-responses-table .response")
    live_response.wait_for()
    return sent.value.headers, live_response


def shown_status(live_response: "Locator") -> str:
    return live_response.locator(".response-col_status").inner_text().strip()


def test_swagger_ui_offers_both_key_schemes_behind_authorize(
    page: tuple["Page", RequestLog], services: dict[str, ServiceProcess]
) -> None:
    tab, requests = page

    open_docs(tab, services["service_a"])
    tab.locator("button.authorize").first.click()
    offered = tab.locator(".modal-ux .auth-container h4 code").all_inner_texts()

    assert sorted(offered) == sorted(SCHEMES)
    requests.assert_clean()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_try_it_out_with_a_key_given_to_authorize_returns_200(
    page: tuple["Page", RequestLog], services: dict[str, ServiceProcess], scheme: str
) -> None:
    tab, requests = page
    header, value = SCHEMES[scheme]
    operation = open_docs(tab, services["service_a"])

    authorize(tab, scheme, KEY)
    headers, live_response = execute_logged_only(tab, operation)

    assert headers.get(header) == value
    assert shown_status(live_response) == "200"
    assert "Input logged successfully" in live_response.locator(".highlight-code").inner_text()
    requests.assert_clean()


def test_try_it_out_without_authorizing_returns_401(
    page: tuple["Page", RequestLog], services: dict[str, ServiceProcess]
) -> None:
    tab, requests = page
    operation = open_docs(tab, services["service_a"])

    headers, live_response = execute_logged_only(tab, operation)

    assert "x-api-key" not in headers and "authorization" not in headers
    assert shown_status(live_response) == "401"
    assert "Missing or invalid API key" in live_response.locator(".highlight-code").inner_text()
    # The page's one failed response is this 401, which the test asked for.
    assert requests.failed_responses == [f"401 {services['service_a'].url}/process"]
    requests.failed_responses.clear()
    requests.assert_clean()
