"""The gateway's test settings and the predictor answers its tests fake."""

from typing import Any

import pytest

from gateway.config import Settings
from service_common.settings import load_settings

PREDICTOR_BASE_URL = "http://predictor.test"
PREDICTION = {
    "prediction": {"class": "dog", "confidence": 0.92, "input_length": 13},
    "message": "Predicted class: dog with 92.0% confidence",
    "model_version": "v1",
}


def replica_status(
    state: str,
    breaker: str | None = "closed",
    name: str | None = None,
    address: str = "predictor.test",
) -> dict[str, Any]:
    """One replica in the gateway's /ready body (the fake predictor's host by default)."""
    return {"address": address, "name": name, "state": state, "breaker": breaker}


def make_settings(**overrides: Any) -> Settings:
    """Test settings: small limits so tests stay small; `overrides` replace any field."""
    values: dict[str, Any] = {
        "SERVICE_B_URL": PREDICTOR_BASE_URL,
        "SERVICE_B_CONNECT_TIMEOUT": 1.0,
        "SERVICE_B_READ_TIMEOUT": 2.0,
        "SERVICE_B_RETRY_AFTER": 7,
        "MAX_DATA_CHARS": 100,
        "MAX_BODY_BYTES": 1_000,
        "LOG_PREVIEW_CHARS": 20,
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "info",
    }
    return Settings(**(values | overrides))


def start_up_refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """The one line the gateway's start-up prints when it refuses the environment `env`."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as refused:
        load_settings(Settings)
    message = str(refused.value.code)
    assert len(message.splitlines()) == 1, message
    return message
