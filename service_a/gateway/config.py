"""Gateway settings, read from the environment (one field per variable, no prefix)."""

from typing import Literal

import httpx
from pydantic import Field, HttpUrl, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the gateway; each field is one environment variable."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", use_attribute_docstrings=True
    )

    HOST: str = "0.0.0.0"
    """Interface uvicorn binds to."""

    PORT: int = Field(8000, ge=1, le=65535)
    """TCP port uvicorn listens on."""

    RELOAD: bool = False
    """Restart on code changes (development only)."""

    WORKERS: int = Field(1, ge=1)
    """Number of uvicorn worker processes."""

    LOG_LEVEL: Literal["critical", "error", "warning", "info", "debug"] = "info"
    """Log level of the gateway and of uvicorn."""

    ACCESS_LOG: bool = True
    """uvicorn's access log: one more line per request, with its status. The input line is
    written either way; turning this off saves about 17 % of the CPU of a forwarded request."""

    LOG_FORMAT: Literal["text", "json"] = "text"
    """`text`: one human-readable line per event; `json`: one JSON object per line."""

    LOG_PREVIEW_CHARS: int = Field(80, ge=0)
    """How many characters of each input the log line shows (control characters escaped)."""

    SERVICE_B_URL: HttpUrl = HttpUrl("http://localhost:8001/predict")
    """The predictor's prediction endpoint; inputs are POSTed here as `{"input": data}`."""

    SERVICE_B_READY_URL: HttpUrl | None = None
    """The predictor's readiness endpoint; defaults to SERVICE_B_URL with the path `/ready`."""

    SERVICE_B_TRANSPORT: Literal["aiohttp", "httpx"] = "aiohttp"
    """Transport under the httpx client: `aiohttp` (httpx-aiohttp, faster) or httpx's own."""

    SERVICE_B_CONNECT_TIMEOUT: float = Field(1.0, gt=0)
    """Seconds to open a TCP connection to the predictor before answering 503."""

    SERVICE_B_READ_TIMEOUT: float = Field(10.0, gt=0)
    """Seconds to wait for the predictor's answer (between bytes) before answering 504.

    Also bounds the wait for a free pooled connection when all SERVICE_B_POOL_SIZE are busy.
    """

    SERVICE_B_POOL_SIZE: int = Field(100, ge=1)
    """Most simultaneous connections to the predictor (kept alive and reused)."""

    SERVICE_B_KEEPALIVE_EXPIRY: float = Field(4.0, ge=0)
    """Seconds an idle pooled connection is kept; keep it below the predictor's keep-alive
    timeout (uvicorn's default is 5 s) so a connection the predictor is closing is not reused."""

    SERVICE_B_RETRY_AFTER: int = Field(5, ge=0)
    """Seconds put in the Retry-After header of 503 answers."""

    MAX_DATA_CHARS: int = Field(10_000, ge=1)
    """Longest accepted `data`, in characters (the predictor's own limit is the same)."""

    MAX_BODY_BYTES: int = Field(1_048_576, ge=1)
    """Largest accepted request body, in bytes; bigger bodies get 413 without being read."""

    @field_validator("LOG_LEVEL", "LOG_FORMAT", "SERVICE_B_TRANSPORT", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def predict_url(self) -> str:
        return str(self.SERVICE_B_URL)

    @property
    def ready_url(self) -> str:
        if self.SERVICE_B_READY_URL is not None:
            return str(self.SERVICE_B_READY_URL)
        return str(httpx.URL(str(self.SERVICE_B_URL)).copy_with(path="/ready", query=None))
