"""The settings every service has, read from the environment, and the one-line refusal of
bad ones at start-up."""

from typing import Annotated, Literal, TypeVar, get_args

from pydantic import (
    BeforeValidator,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
LogFormat = Literal["text", "json"]

Seconds = Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)]
"""A duration setting: positive, finite, at most a day (asyncio timers overflow on `inf`)."""


def _none_if_empty(value: object) -> object:
    return None if value == "" else value


EMPTY_IS_UNSET = BeforeValidator(_none_if_empty)
"""For an optional setting: empty means unset. docker-compose passes `NAME: ${NAME:-}` as
"" when the shell leaves NAME unset."""


class ServiceSettings(BaseSettings):
    """Where a service listens, how it logs and what it accepts; one field per variable.

    Names are case-insensitive and have no prefix. Each field's docstring is its
    description (and the README's configuration table says the same).
    """

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", use_attribute_docstrings=True
    )

    HOST: str = "0.0.0.0"  # nosec B104 # other containers call it; HOST=127.0.0.1 stays local
    """Interface uvicorn binds to."""

    PORT: int = Field(8000, ge=1, le=65535)
    """TCP port uvicorn listens on."""

    RELOAD: bool = False
    """Restart on code changes (development only)."""

    WORKERS: int = Field(1, ge=1, le=64)
    """Number of uvicorn worker processes."""

    NICE: int = Field(0, ge=0, le=19)
    """How much lower the service's CPU priority is than that of the process that starts
    it (nice), from `python main.py` on; its workers inherit it."""

    LOG_LEVEL: LogLevel = "info"
    """Log level of the service and of uvicorn: critical, error, warning, info or debug."""

    LOG_FORMAT: LogFormat = "text"
    """`text`: one human-readable line per event; `json`: one JSON object per line."""

    ACCESS_LOG: bool = True
    """uvicorn's access log: one more line per request, with its status."""

    MAX_BODY_BYTES: int = Field(1_048_576, ge=1)
    """Largest accepted request body, in bytes; bigger bodies get 413 without being read."""

    MAX_HEADER_BYTES: int = Field(16_384, ge=1_024, le=1_048_576)
    """Largest request head (request line and headers), in bytes; beyond it, 431."""

    HEADER_TIMEOUT_S: Seconds = 10.0
    """Seconds a client has to send a request's head, from connecting (or, on a kept-alive
    connection, from the request's first byte); then the connection is closed."""

    KEEPALIVE_TIMEOUT_S: Seconds = 5.0
    """Seconds an idle kept-alive connection stays open between requests."""

    FORWARDED_ALLOW_IPS: Annotated[str | None, EMPTY_IS_UNSET] = None
    """Comma-separated addresses or networks (or `*`) of the proxies in front whose
    X-Forwarded-For and X-Forwarded-Proto are believed; unset: none are, and a request's
    client is the address it came from (what the gateway's rate limit counts by)."""

    MAX_CONNECTIONS: int = Field(1_000, ge=1, le=1_000_000)
    """Most open connections per worker process; more get 503 and are closed, logged."""

    SHUTDOWN_GRACE_S: Seconds = 10.0
    """On SIGTERM, seconds the accepted requests have to finish before they are cancelled."""

    METRICS_ENABLED: bool = True
    """Serve Prometheus metrics at /metrics and count every request; false: no /metrics
    (404) and no counting."""

    PROMETHEUS_MULTIPROC_DIR: str | None = None
    """Folder where each worker writes its metrics when WORKERS > 1 (prometheus_client's
    multiprocess mode), emptied at start-up; default: a fresh temporary folder."""

    TRACING_ENABLED: bool = True
    """Put each request in a W3C trace (the client's `traceparent`, or a new one), log its
    trace id and pass it on; false: no trace ids and no `traceparent` sent."""

    OTEL_EXPORTER_OTLP_ENDPOINT: Annotated[HttpUrl | None, EMPTY_IS_UNSET] = None
    """OpenTelemetry collector (OTLP over HTTP, e.g. http://collector:4318) to export spans
    to; unset: no span is built. The other standard OTEL_EXPORTER_OTLP_* variables apply."""

    OTEL_SERVICE_NAME: Annotated[str | None, EMPTY_IS_UNSET] = Field(
        None, min_length=1, max_length=255
    )
    """The `service.name` of exported spans; default: the service's name."""

    @model_validator(mode="after")
    def _exporting_needs_tracing(self) -> "ServiceSettings":
        if self.OTEL_EXPORTER_OTLP_ENDPOINT is not None and not self.TRACING_ENABLED:
            raise ValueError("OTEL_EXPORTER_OTLP_ENDPOINT is set but TRACING_ENABLED is false")
        return self

    @field_validator("LOG_LEVEL", "LOG_FORMAT", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """The settings from the environment; on a bad value, exit with one line per bad setting."""
    try:
        return settings_class()
    except ValidationError as error:
        raise SystemExit(describe_invalid_settings(error, secret_names(settings_class))) from None


def secret_names(settings_class: type[ServiceSettings]) -> frozenset[str]:
    """The settings that hold a secret (SecretStr): a refusal never shows their value."""
    return frozenset(
        name.upper()
        for name, field in settings_class.model_fields.items()
        if field.annotation is SecretStr or SecretStr in get_args(field.annotation)
    )


def describe_invalid_settings(error: ValidationError, secret: frozenset[str] = frozenset()) -> str:
    """`Invalid setting NAME='value': what is expected`, one line per problem (without the
    value of a `secret` setting)."""
    lines = []
    for problem in error.errors(include_url=False):
        name = ".".join(str(part) for part in problem["loc"]).upper()
        value = problem.get("input")
        shown = f"={value!r}" if isinstance(value, str | int | float) and name not in secret else ""
        # A rule over several settings has no field; its message names them itself.
        whole = problem["msg"].removeprefix("Value error, ")
        lines.append(f"Invalid setting {name}{shown}: {problem['msg']}" if name else whole)
    return "\n".join(lines)
