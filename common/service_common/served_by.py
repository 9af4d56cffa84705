"""Which replica answered: the predictor names itself on every response (`X-Served-By`),
and the gateway passes the name on with the predictions it forwards, so the spread over
replicas can be seen with curl."""

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from service_common.middleware import adding_header

SERVED_BY_HEADER = b"x-served-by"
REPLICA_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$"
"""A host name's characters (a container's or pod's hostname is one), at most 253 long."""
_VALID_REPLICA_NAME = re.compile(REPLICA_NAME_PATTERN)


def sane_replica_name(value: str | None) -> str | None:
    """`value` if it is a replica name that may be passed on, else None."""
    if value is None or not _VALID_REPLICA_NAME.fullmatch(value):
        return None
    return value


class ServedByMiddleware:
    """Adds `X-Served-By: <name>` to every HTTP response of the app."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self._header = (SERVED_BY_HEADER, name.encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, adding_header(send, self._header))
