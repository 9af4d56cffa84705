"""Settings: safe defaults, environment variables, paths anchored at service_b/, the
limits of the model lifecycle, and the admin token kept secret."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from predictor.config import SERVICE_ROOT, Settings
from service_common.settings import load_settings
from tests.support.lifecycle import ADMIN_TOKEN


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


def test_lifecycle_defaults_keep_the_admin_api_off() -> None:
    settings = Settings()

    assert settings.ADMIN_TOKEN is None
    assert (settings.MODEL_POLL_S, settings.MODEL_CACHE_SIZE) == (2.0, 2)
    assert (settings.TRAIN_QUEUE_SIZE, settings.TRAIN_TIMEOUT_S) == (4, 1_800.0)
    assert (settings.TRAIN_MAX_EXAMPLES, settings.TRAIN_NICE) == (10_000, 10)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADMIN_TOKEN", "x" * 15),
        ("MODEL_POLL_S", 0),
        ("MODEL_POLL_S", float("inf")),
        ("MODEL_CACHE_SIZE", -1),
        ("MODEL_CACHE_SIZE", 17),
        ("TRAIN_QUEUE_SIZE", 0),
        ("TRAIN_QUEUE_SIZE", 1_001),
        ("TRAIN_TIMEOUT_S", 0),
        ("TRAIN_TIMEOUT_S", -1),
        ("TRAIN_TIMEOUT_S", float("nan")),
        ("TRAIN_MAX_EXAMPLES", -1),
        ("TRAIN_NICE", -1),
        ("TRAIN_NICE", 20),
    ],
)
def test_lifecycle_setting_out_of_range_is_refused(name: str, value: object) -> None:
    values: dict[str, Any] = {name: value}

    with pytest.raises(ValidationError):
        Settings(**values)


def test_admin_token_of_16_characters_is_accepted() -> None:
    token = Settings(ADMIN_TOKEN="x" * 16).ADMIN_TOKEN

    assert token is not None
    assert token.get_secret_value() == "x" * 16


def test_admin_token_is_read_from_the_environment_and_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", ADMIN_TOKEN)

    settings = Settings()

    assert settings.ADMIN_TOKEN is not None
    assert settings.ADMIN_TOKEN.get_secret_value() == ADMIN_TOKEN
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert ADMIN_TOKEN not in shown


def test_refused_admin_token_is_named_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", "short-secret")

    with pytest.raises(SystemExit) as exited:
        load_settings(Settings)

    assert str(exited.value.code).startswith("Invalid setting ADMIN_TOKEN: ")
    assert "short-secret" not in str(exited.value.code)
