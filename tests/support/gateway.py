"""The gateway's test settings and the predictor answers its tests fake."""

from typing import Any

from gateway.config import Settings

PREDICTOR_BASE_URL = "http://predictor.test"
PREDICTION = {
    "prediction": {"class": "dog", "confidence": 0.92, "input_length": 13},
    "message": "Predicted class: dog with 92.0% confidence",
    "model_version": "v1",
}


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
