"""The observability settings of both services (METRICS_ENABLED, TRACING_ENABLED,
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME), read from the environment as at start-up:
accepted values, and the one-line refusal of bad ones."""

import pytest

from gateway.config import Settings as GatewaySettings
from predictor.config import Settings as PredictorSettings
from service_common.settings import ServiceSettings, load_settings

SETTINGS_CLASSES = [GatewaySettings, PredictorSettings]
ENDPOINT = "http://collector:4318"

pytestmark = pytest.mark.parametrize(
    "settings_class", SETTINGS_CLASSES, ids=["gateway", "predictor"]
)


def refusal(settings_class: type[ServiceSettings]) -> str:
    """What start-up prints when it refuses the environment's settings."""
    with pytest.raises(SystemExit) as refused:
        load_settings(settings_class)
    return str(refused.value)


def test_by_default_metrics_and_tracing_are_on_and_nothing_is_exported(
    settings_class: type[ServiceSettings],
) -> None:
    settings = load_settings(settings_class)

    assert settings.METRICS_ENABLED is True
    assert settings.TRACING_ENABLED is True
    assert settings.OTEL_EXPORTER_OTLP_ENDPOINT is None
    assert settings.OTEL_SERVICE_NAME is None


def test_an_endpoint_with_tracing_disabled_is_refused_naming_both_settings(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", ENDPOINT)
    monkeypatch.setenv("TRACING_ENABLED", "false")

    message = refusal(settings_class)

    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in message
    assert "TRACING_ENABLED" in message
    assert len(message.splitlines()) == 1


def test_an_endpoint_with_tracing_on_is_accepted(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", ENDPOINT)

    settings = load_settings(settings_class)

    assert str(settings.OTEL_EXPORTER_OTLP_ENDPOINT).rstrip("/") == ENDPOINT


@pytest.mark.parametrize("tracing", ["true", "false"])
def test_an_empty_endpoint_means_unset(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch, tracing: str
) -> None:
    # docker-compose passes `OTEL_EXPORTER_OTLP_ENDPOINT: ${OTEL_EXPORTER_OTLP_ENDPOINT:-}`
    # as "" when it is unset, whether tracing is on or off. (The predictor once refused
    # it: its own ADMIN_TOKEN validator had the shared validator's name and replaced it.)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    monkeypatch.setenv("TRACING_ENABLED", tracing)

    settings = load_settings(settings_class)

    assert settings.OTEL_EXPORTER_OTLP_ENDPOINT is None


@pytest.mark.parametrize(
    "endpoint", ["collector:4318", "not a url", "ftp://collector:4318", "http://", "4318"]
)
def test_an_endpoint_that_is_not_an_http_url_is_refused_naming_the_setting(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)

    message = refusal(settings_class)

    assert message.startswith(f"Invalid setting OTEL_EXPORTER_OTLP_ENDPOINT={endpoint!r}: ")
    assert len(message.splitlines()) == 1


def test_an_empty_service_name_means_unset(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "")

    assert load_settings(settings_class).OTEL_SERVICE_NAME is None


def test_an_overlong_service_name_is_refused_naming_the_setting(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "s" * 256)

    assert refusal(settings_class).startswith("Invalid setting OTEL_SERVICE_NAME=")


@pytest.mark.parametrize("name", ["METRICS_ENABLED", "TRACING_ENABLED"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_switches_parse_booleans(
    settings_class: type[ServiceSettings],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    expected: bool,
) -> None:
    monkeypatch.setenv(name, value)

    assert getattr(load_settings(settings_class), name) is expected


@pytest.mark.parametrize("name", ["METRICS_ENABLED", "TRACING_ENABLED"])
@pytest.mark.parametrize("value", ["maybe", "2", "enabled", ""])
def test_a_switch_that_is_not_a_boolean_is_refused_naming_the_setting(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    message = refusal(settings_class)

    assert message.startswith(f"Invalid setting {name}={value!r}: ")
