"""promtool, Prometheus's checker, for the tests of the scrape config and alerting rules.

Without it (Debian: `apt-get install prometheus`) those tests are skipped, unless
REQUIRE_PROMTOOL=1 (as in CI), which turns the skip into a failure.
"""

import os
import shutil

import pytest


def promtool_required() -> bool:
    return os.environ.get("REQUIRE_PROMTOOL", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool executable; skips (or fails, with REQUIRE_PROMTOOL=1) when missing."""
    path = shutil.which("promtool")
    if path is None:
        problem = "promtool is not installed (apt-get install prometheus)"
        if promtool_required():
            pytest.fail(f"REQUIRE_PROMTOOL is set but {problem}", pytrace=False)
        pytest.skip(f"Prometheus config and alerts NOT checked: {problem}")
    return path
