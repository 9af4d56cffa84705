"""Both services as processes and one headless Chromium, shared by the browser tests.

Without Playwright or a Chromium executable (CHROMIUM_PATH, default /usr/bin/chromium)
the browser tests are skipped with a banner in the run's summary, unless
REQUIRE_BROWSER=1 (as in CI), which turns the skip into a failure.
"""

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

from devkit.chromium import CHROMIUM_PATH, chromium, missing_browser
from devkit.processes import ServiceProcess, running_services
from tests.browser.request_log import RequestLog
from tests.support.required import required

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

TIMEOUT_MS = 15_000  # any one wait in the browser

_skip_reasons: list[str] = []


@pytest.fixture(scope="module")
def browser_available() -> None:
    """Skip (or, with REQUIRE_BROWSER=1, fail) before any service starts if no browser."""
    problem = missing_browser()
    if problem is None:
        return
    if required("REQUIRE_BROWSER"):
        pytest.fail(f"REQUIRE_BROWSER is set but {problem}", pytrace=False)
    _skip_reasons.append(problem)
    pytest.skip(f"BROWSER TEST SKIPPED, /docs and /redoc were NOT tested: {problem}")


@pytest.fixture(scope="module")
def services(
    browser_available: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    """Service B (training a model at start-up) and service A forwarding to it."""
    model_dir = tmp_path_factory.mktemp("models")
    log_dir = tmp_path_factory.mktemp("service-logs")
    with running_services(model_dir, log_dir) as (gateway, predictor):
        yield {"service_a": gateway, "service_b": predictor}


@pytest.fixture(scope="module")
def browser(
    services: dict[str, ServiceProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator["BrowserContext"]:
    """Headless Chromium with a fresh profile; no request it makes may leave the services.

    Module-scoped, not session-scoped: sync Playwright keeps an event loop running in the
    main thread while it is open, and the async tests that run later need it closed.
    """
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        context.set_default_timeout(TIMEOUT_MS)
        yield context


@pytest.fixture
def page(
    browser: "BrowserContext", services: dict[str, ServiceProcess]
) -> Iterator[tuple["Page", RequestLog]]:
    """A new tab whose every request is recorded (and any non-local one aborted)."""
    log = RequestLog({service.port for service in services.values()})
    tab = browser.new_page()
    tab.route("**/*", log.route)
    tab.on("request", log.on_request)
    tab.on("requestfailed", log.on_request_failed)
    tab.on("response", log.on_response)
    tab.on("pageerror", lambda error: log.page_errors.append(str(error)))
    try:
        yield tab, log
    finally:
        tab.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the end of both services' logs to the report of a failing browser test."""
    report = yield
    services = getattr(item, "funcargs", {}).get("services")
    if report.failed and isinstance(services, dict):
        for name, process in services.items():
            report.sections.append((f"{name} log (last lines)", process.log_tail()))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Make a skipped browser test impossible to miss at the end of the run."""
    for reason in dict.fromkeys(_skip_reasons):
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"/docs and /redoc were NOT tested: {reason}", red=True)
        terminalreporter.write_line(
            f"Install Chromium ({CHROMIUM_PATH}) to run them; REQUIRE_BROWSER=1 makes this "
            "a failure.",
            red=True,
        )
