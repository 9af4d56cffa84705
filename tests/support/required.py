"""Tests that need a tool this machine may lack (Docker, Chromium, promtool, redis-server,
kubectl): skipped, loudly, when it is missing, unless its REQUIRE_* variable is set (as
in CI), which turns the skip into a failure."""

import os
import shutil
from typing import NoReturn

import pytest


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
