"""Settings: safe defaults, environment variables, paths anchored at service_b/."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from predictor.config import SERVICE_ROOT, Settings


def test_defaults_are_safe_for_the_lab() -> None:
    settings = Settings()

    assert (settings.HOST, settings.PORT, settings.RELOAD) == ("0.0.0.0", 8001, False)
    assert settings.MAX_INPUT_CHARS == 10_000
    assert settings.BATCHING_ENABLED is True
    assert settings.MODEL_VERSION is None


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_INPUT_CHARS", "123")
    monkeypatch.setenv("BATCHING_ENABLED", "false")

    settings = Settings()

    assert settings.MAX_INPUT_CHARS == 123
    assert settings.BATCHING_ENABLED is False


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_INPUT_CHARS", "123")

    assert Settings(MAX_INPUT_CHARS=50).MAX_INPUT_CHARS == 50


def test_relative_training_config_is_anchored_at_service_b(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)

    assert Settings().training_config_path == SERVICE_ROOT / "training.toml"


def test_relative_model_dir_is_anchored_at_service_b() -> None:
    assert Settings(MODEL_DIR=Path("models")).model_dir_override == SERVICE_ROOT / "models"


def test_model_dir_defaults_to_none_so_the_config_decides() -> None:
    assert Settings().model_dir_override is None


@pytest.mark.parametrize("version", ["latest", "1", "v0", "v01", "../v1"])
def test_model_version_must_look_like_a_version(version: str) -> None:
    with pytest.raises(ValidationError):
        Settings(MODEL_VERSION=version)


@pytest.mark.parametrize(("name", "value"), [("MAX_INPUT_CHARS", 0), ("BATCH_MAX_SIZE", 0)])
def test_limits_must_be_positive(name: str, value: int) -> None:
    values: dict[str, Any] = {name: value}

    with pytest.raises(ValidationError):
        Settings(**values)
