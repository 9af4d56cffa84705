"""kubectl, for the tests of deploy/k8s: `kubectl kustomize` renders each overlay and the base.

Without it those tests are skipped, unless REQUIRE_KUBECTL=1, which turns the skip into
a failure (as REQUIRE_PROMTOOL does for promtool).
"""

import pytest

from tests.support.required import required_executable


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The kubectl executable; skips (or fails, with REQUIRE_KUBECTL=1) when missing."""
    return required_executable(
        "kubectl",
        "REQUIRE_KUBECTL",
        "https://kubernetes.io/docs/tasks/tools/",
        "Kubernetes manifests NOT checked",
    )
