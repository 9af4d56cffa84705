"""Gateway settings, read from the environment (one field per variable, no prefix)."""

from pathlib import Path
from typing import Annotated, Literal

from limits import RateLimitItem
from pydantic import Field, HttpUrl, PrivateAttr, SecretStr, field_validator, model_validator

from gateway.access_settings import (
    check_redis_url,
    parse_api_keys,
    parse_rate_limit,
    read_api_key_file,
)
from service_common.settings import EMPTY_IS_UNSET, Seconds, ServiceSettings

PREDICT_PATH = "/predict"
READY_PATH = "/ready"
MEMORY_STORAGE = "memory://"
REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://")


class Settings(ServiceSettings):
    """Every knob of the gateway; each field is one environment variable."""

    LOG_PREVIEW_CHARS: int = Field(80, ge=0)
    """How many characters of each input the log line shows (control characters escaped)."""

    SERVICE_B_URL: HttpUrl = HttpUrl("http://localhost:8001")
    """The predictor's base URL, e.g. http://service_b:8001; inputs are POSTed to its
    /predict as `{"input": data}`, and /ready tells whether it can answer."""

    SERVICE_B_RESOLVE_S: Seconds = 5.0
    """Seconds between resolutions of SERVICE_B_URL's host to all its addresses, each a
    replica that calls are spread over (every BREAKER_READY_CHECK_S while all replicas'
    breakers are open). Not used when the host is an IP address."""

    SERVICE_B_TRANSPORT: Literal["aiohttp", "httpx"] = "aiohttp"
    """Transport under the httpx client: `aiohttp` (httpx-aiohttp, faster) or httpx's own."""

    SERVICE_B_CONNECT_TIMEOUT: Seconds = 1.0
    """Seconds to open a TCP connection to the predictor before answering 503; also the
    longest one resolution of its host may take."""

    SERVICE_B_READ_TIMEOUT: Seconds = 10.0
    """Seconds to wait for the predictor's answer (between bytes) before answering 504.

    Also bounds the wait for a free pooled connection when all SERVICE_B_POOL_SIZE are busy.
    """

    SERVICE_B_READY_TIMEOUT: Seconds = 1.0
    """Seconds the readiness check of the predictor may take in all (connect and answer)
    before the gateway's /ready answers 503; short, so a probe sees 503, not a timeout."""

    SERVICE_B_POOL_SIZE: int = Field(100, ge=1)
    """Most simultaneous connections to each replica of the predictor (kept alive and
    reused); calls in progress to all of them are bounded by SERVICE_B_MAX_IN_FLIGHT."""

    SERVICE_B_KEEPALIVE_EXPIRY: float = Field(4.0, ge=0, le=3600, allow_inf_nan=False)
    """Seconds an idle pooled connection is kept; keep it below the predictor's keep-alive
    timeout (uvicorn's default is 5 s) so a connection the predictor is closing is not reused."""

    SERVICE_B_RETRY_AFTER: int = Field(5, ge=0)
    """Seconds put in the Retry-After header of 503 answers."""

    SERVICE_B_MAX_IN_FLIGHT: int | None = Field(None, ge=1)
    """Most calls to the predictor at once (default: SERVICE_B_POOL_SIZE); more wait."""

    SERVICE_B_QUEUE_TIMEOUT: Seconds = 1.0
    """Seconds a call may wait for one of those slots before it is answered 503."""

    BREAKER_ENABLED: bool = True
    """Put a circuit breaker in front of the predictor."""

    BREAKER_FAILURES: int = Field(5, ge=1, le=1_000)
    """Consecutive failures (connect errors, resets, timeouts, 503s) that open the breaker."""

    BREAKER_OPEN_S: Seconds = 2.0
    """Seconds the breaker stays open before one probe call; doubled after each failed probe."""

    BREAKER_MAX_OPEN_S: Seconds = 30.0
    """The longest the breaker stays open between probes."""

    BREAKER_READY_CHECK_S: Seconds = 0.5
    """While the breaker is open, seconds between checks of the predictor's /ready; once
    it answers ready, the next call probes it."""

    RETRY_BUDGET_RATIO: float = Field(0.2, ge=0, le=1, allow_inf_nan=False)
    """Share of the calls of the last 10 s that may be retries (of calls reset before any
    answer, retried once on a new connection); 0 turns retries off."""

    RETRY_BUDGET_MIN: int = Field(3, ge=0, le=1_000)
    """Retries allowed in the last 10 s whatever their share, so a gateway with few calls
    (just started) can still retry (Envoy's min_retry_concurrency); unused when
    RETRY_BUDGET_RATIO is 0."""

    MAX_DATA_CHARS: int = Field(10_000, ge=1)
    """Longest accepted `data`, in characters (the predictor's own limit is the same)."""

    API_KEYS: Annotated[SecretStr | None, EMPTY_IS_UNSET] = None
    """Comma-separated API keys (each at least 16 printable ASCII characters, no spaces);
    set, `POST /process` needs one as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
    Unset (and no API_KEYS_FILE): the gateway is open."""

    API_KEYS_FILE: Annotated[Path | None, EMPTY_IS_UNSET] = None
    """A file of API keys, one a line (blank lines and `#` comments ignored), such as a
    Docker or Kubernetes secret; instead of API_KEYS."""

    RATE_LIMIT: Annotated[str | None, EMPTY_IS_UNSET] = None
    """Requests each API key (each client address, without keys) may make to
    `POST /process`, in the `limits` package's notation: `100/second`, or several limits
    separated by `;`, such as `6000/minute;200/second` (100 a second on average, bursts of
    up to 200 in a second). Unset: no limit."""

    RATE_LIMIT_STRATEGY: Literal["sliding-window-counter", "fixed-window", "moving-window"] = (
        "sliding-window-counter"
    )
    """How the limit's window is counted (the `limits` package's strategies)."""

    RATE_LIMIT_STORAGE: SecretStr = SecretStr("memory://")
    """Where the counts are kept: `memory://` (each worker process its own), or a Redis
    URL (`redis://host:6379/0`, `rediss://`, `redis+unix://`) shared by every worker and
    replica."""

    RATE_LIMIT_STORAGE_TIMEOUT_S: float = Field(0.25, ge=0.005, le=5, allow_inf_nan=False)
    """Seconds the rate-limit storage may take to count a request (all its limits); if it
    fails or is slower, the request is let through (and logged) rather than refused."""

    _api_keys: tuple[SecretStr, ...] = PrivateAttr(())
    _rate_limits: tuple[RateLimitItem, ...] = PrivateAttr(())

    @field_validator("SERVICE_B_TRANSPORT", "RATE_LIMIT_STRATEGY", mode="before")
    @classmethod
    def _lower_case_choice(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("SERVICE_B_URL")
    @classmethod
    def _base_url_only(cls, url: HttpUrl) -> HttpUrl:
        path = (url.path or "").rstrip("/")
        if path.endswith((PREDICT_PATH, READY_PATH)) or url.query or url.fragment:
            raise ValueError(
                "must be the predictor's base URL, such as http://service_b:8001, "
                "without /predict, /ready, a query or a fragment"
            )
        if url.username or url.password:
            raise ValueError("must not carry a user name or password")
        return url

    @field_validator("RATE_LIMIT_STORAGE", mode="before")
    @classmethod
    def _empty_is_memory(cls, value: object) -> object:
        # docker-compose and stack files pass `${RATE_LIMIT_STORAGE:-}` as "" when unset.
        return MEMORY_STORAGE if value == "" else value

    @field_validator("RATE_LIMIT_STORAGE")
    @classmethod
    def _known_storage(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url == MEMORY_STORAGE:
            return value
        if not url.startswith(REDIS_SCHEMES):
            raise ValueError(
                "must be memory:// or a Redis URL (redis://, rediss://, redis+unix://)"
            )
        check_redis_url(url)
        return value

    @model_validator(mode="after")
    def _read_access_settings(self) -> "Settings":
        if self.API_KEYS is not None and self.API_KEYS_FILE is not None:
            raise ValueError("set API_KEYS or API_KEYS_FILE, not both")
        if self.API_KEYS is not None:
            self._api_keys = parse_api_keys(self.API_KEYS.get_secret_value().split(","), "API_KEYS")
        elif self.API_KEYS_FILE is not None:
            self._api_keys = read_api_key_file(self.API_KEYS_FILE)
        if self.RATE_LIMIT is not None:
            self._rate_limits = parse_rate_limit(self.RATE_LIMIT)
        return self

    @model_validator(mode="after")
    def _breaker_times_in_order(self) -> "Settings":
        if self.BREAKER_MAX_OPEN_S < self.BREAKER_OPEN_S:
            raise ValueError(
                f"BREAKER_MAX_OPEN_S ({self.BREAKER_MAX_OPEN_S:g}) must be at least "
                f"BREAKER_OPEN_S ({self.BREAKER_OPEN_S:g})"
            )
        return self

    @property
    def api_keys(self) -> tuple[SecretStr, ...]:
        """The accepted API keys, from API_KEYS or API_KEYS_FILE; empty: the gateway is open."""
        return self._api_keys

    @property
    def rate_limits(self) -> tuple[RateLimitItem, ...]:
        """RATE_LIMIT, parsed; empty: no limit."""
        return self._rate_limits

    @property
    def max_in_flight(self) -> int:
        return self.SERVICE_B_MAX_IN_FLIGHT or self.SERVICE_B_POOL_SIZE

    @property
    def predictor_base_url(self) -> str:
        return str(self.SERVICE_B_URL).rstrip("/")

    @property
    def predict_url(self) -> str:
        return self.predictor_base_url + PREDICT_PATH

    @property
    def ready_url(self) -> str:
        return self.predictor_base_url + READY_PATH
