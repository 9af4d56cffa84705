"""Fixtures of every test: the machine's environment never reaches the services' settings."""

import os

import pytest

from gateway.config import Settings as GatewaySettings
from predictor.config import Settings as PredictorSettings

SETTING_NAMES = frozenset(
    name.upper()
    for settings in (GatewaySettings, PredictorSettings)
    for name in settings.model_fields
)


@pytest.fixture(autouse=True)
def _isolate_settings_from_host_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment (case-insensitively); the host's must not leak in."""
    for variable in list(os.environ):
        if variable.upper() in SETTING_NAMES:
            monkeypatch.delenv(variable)
