"""The admin API's guard: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time.

Unset ADMIN_TOKEN turns the admin API off (403) rather than open: training and
activation change what every client is answered with.
"""

import hmac

from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from predictor.errors import AdminDisabled, AdminUnauthorized

bearer_token = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="ADMIN_TOKEN, for the admin routes (training, versions, activation).",
)


class AdminGuard:
    def __init__(self, token: SecretStr | None) -> None:
        self._token = token.get_secret_value().encode() if token is not None else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def check(self, credentials: HTTPAuthorizationCredentials | None) -> None:
        """AdminDisabled when there is no ADMIN_TOKEN; AdminUnauthorized unless it was sent."""
        if self._token is None:
            raise AdminDisabled()
        sent = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(sent, self._token):
            raise AdminUnauthorized()
