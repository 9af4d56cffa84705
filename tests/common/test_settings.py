"""The settings both services share: the same values accepted on both, bad ones refused
at start-up with one line each naming the setting, its value and what is expected."""

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.config import Settings as GatewaySettings
from predictor.config import Settings as PredictorSettings
from service_common.settings import ServiceSettings, describe_invalid_settings, load_settings

SETTINGS_CLASSES = [GatewaySettings, PredictorSettings]


@pytest.mark.parametrize("settings_class", SETTINGS_CLASSES)
@pytest.mark.parametrize("level", ["DEBUG", "Debug", "debug", "WARNING", "critical"])
def test_log_level_is_accepted_in_any_case_on_both(
    settings_class: type[ServiceSettings], level: str
) -> None:
    assert level.lower() == settings_class(LOG_LEVEL=level).LOG_LEVEL


@pytest.mark.parametrize("settings_class", SETTINGS_CLASSES)
@pytest.mark.parametrize(
    "name", ["HEADER_TIMEOUT_S", "KEEPALIVE_TIMEOUT_S"], ids=["header", "keep-alive"]
)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1", "1e9"])
def test_durations_must_be_finite_positive_and_at_most_a_day(
    settings_class: type[ServiceSettings], name: str, value: str
) -> None:
    values: dict[str, Any] = {name: value}

    with pytest.raises(ValidationError):
        settings_class(**values)


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-2"])
@pytest.mark.parametrize(
    "name", ["SERVICE_B_CONNECT_TIMEOUT", "SERVICE_B_READ_TIMEOUT", "SERVICE_B_READY_TIMEOUT"]
)
def test_gateway_timeouts_must_be_finite_and_positive(name: str, value: str) -> None:
    values: dict[str, Any] = {name: value}

    with pytest.raises(ValidationError):
        GatewaySettings(**values)


@pytest.mark.parametrize(
    ("name", "value"),
    [("MAX_HEADER_BYTES", 100), ("MAX_CONNECTIONS", 0), ("WORKERS", 0), ("MAX_BODY_BYTES", 0)],
)
@pytest.mark.parametrize("settings_class", SETTINGS_CLASSES)
def test_limits_out_of_range_are_refused(
    settings_class: type[ServiceSettings], name: str, value: int
) -> None:
    values: dict[str, Any] = {name: value}

    with pytest.raises(ValidationError):
        settings_class(**values)


def test_invalid_settings_are_described_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    monkeypatch.setenv("SERVICE_B_READ_TIMEOUT", "inf")

    with pytest.raises(ValidationError) as refused:
        GatewaySettings()
    lines = describe_invalid_settings(refused.value).splitlines()

    assert len(lines) == 2
    assert lines[0].startswith("Invalid setting PORT='eighty': ")
    assert (
        lines[1] == "Invalid setting SERVICE_B_READ_TIMEOUT='inf': Input should be a finite number"
    )


def test_load_settings_exits_with_the_description(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", "0")

    with pytest.raises(SystemExit) as exited:
        load_settings(PredictorSettings)

    assert exited.value.code == (
        "Invalid setting WORKERS='0': Input should be greater than or equal to 1"
    )
