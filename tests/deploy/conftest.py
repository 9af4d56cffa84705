"""kubectl, for the tests of deploy/k8s: `kubectl kustomize` renders each overlay and the base.

Without it those tests are skipped, unless REQUIRE_KUBECTL=1, which turns the skip into
a failure (as REQUIRE_PROMTOOL does for promtool).
"""

import os
import shutil

import pytest


def kubectl_required() -> bool:
    return os.environ.get("REQUIRE_KUBECTL", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The kubectl executable; skips (or fails, with REQUIRE_KUBECTL=1) when missing."""
    path = shutil.which("kubectl")
    if path is None:
        problem = "kubectl is not installed (https://kubernetes.io/docs/tasks/tools/)"
        if kubectl_required():
            pytest.fail(f"REQUIRE_KUBECTL is set but {problem}", pytrace=False)
        pytest.skip(f"Kubernetes manifests NOT checked: {problem}")
    return path
