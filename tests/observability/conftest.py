"""promtool, Prometheus's checker, for the tests of the scrape config and alerting rules.

Without it (Debian: `apt-get install prometheus`) those tests are skipped, unless
REQUIRE_PROMTOOL=1 (as in CI), which turns the skip into a failure.
"""

import pytest

from tests.support.required import required_executable


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool executable; skips (or fails, with REQUIRE_PROMTOOL=1) when missing."""
    return required_executable(
        "promtool",
        "REQUIRE_PROMTOOL",
        "apt-get install prometheus",
        "Prometheus config and alerts NOT checked",
    )
