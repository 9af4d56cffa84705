"""Tests that need a tool this machine may lack (Docker, Chromium, promtool, redis-server,
kubectl, a private /etc/hosts): skipped, loudly, when it is missing, unless its REQUIRE_*
variable is set (as in CI), which turns the skip into a failure."""

import os
import shutil
from typing import NoReturn

import pytest

from devkit.hosts import own_hosts_unavailable


def required(variable: str) -> bool:
    """Whether the environment asks for the tests behind `variable` (REQUIRE_DOCKER, ...)."""
    return os.environ.get(variable, "").lower() in ("1", "true", "yes")


def skip_or_fail(variable: str, problem: str, skipped: str) -> NoReturn:
    """Fail if `variable` asks for the tests, else skip them, saying what was not tested."""
    if required(variable):
        pytest.fail(f"{variable} is set but {problem}", pytrace=False)
    pytest.skip(f"{skipped}: {problem}")


def required_executable(name: str, variable: str, install: str, skipped: str) -> str:
    """The path of executable `name`; skips (or fails, with `variable` set) when missing."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(variable, f"{name} is not installed ({install})", skipped)
    return path


def require_own_hosts(skipped: str) -> None:
    """Skip (or fail, with REQUIRE_OWN_HOSTS set) unless a process can have its own
    /etc/hosts here (devkit.hosts: root and `unshare --mount`)."""
    problem = own_hosts_unavailable()
    if problem is not None:
        skip_or_fail("REQUIRE_OWN_HOSTS", problem, skipped)
