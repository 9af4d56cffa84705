"""Who may call `POST /process`, and how often: the API key check, then the rate limit
of that key (of the client's address when there are no keys)."""

import logging

from starlette.requests import Request

from gateway.api_keys import ApiKeys
from gateway.rate_limit import RateLimiter

logger = logging.getLogger("gateway.admission")

UNKNOWN_ADDRESS = "unknown"
"""The caller of a request whose server gave no client address (a Unix socket, a test)."""


class Admission:
    """Built once per app, in its lifespan; `admit` runs once the body is parsed as JSON,
    before it is validated, logged or forwarded."""

    def __init__(self, api_keys: ApiKeys | None, rate_limiter: RateLimiter | None) -> None:
        self._api_keys = api_keys
        self._rate_limiter = rate_limiter

    async def admit(self, request: Request) -> str | None:
        """The id of the request's API key (None without keys); Unauthenticated or
        RateLimited if the request may not go on."""
        key_id = self._api_keys.identify(request.headers) if self._api_keys is not None else None
        if self._rate_limiter is not None:
            if key_id is not None:
                caller = f"key:{key_id}"
            else:
                client = request.client
                caller = f"address:{client.host if client else UNKNOWN_ADDRESS}"
            await self._rate_limiter.admit(caller)
        return key_id


def warn_if_open(api_keys: ApiKeys | None) -> None:
    """The start-up WARNING of a gateway anyone who reaches it may use."""
    if api_keys is None:
        logger.warning(
            "API_KEYS and API_KEYS_FILE are unset: POST /process is open to anyone who can "
            "reach the gateway"
        )
