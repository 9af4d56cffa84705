"""API docs that work with no internet: /docs (Swagger UI) and /redoc (ReDoc).

`fastapi_offline.FastAPIOffline` builds the app and serves the Swagger UI and ReDoc assets
from the pinned fastapi-offline package under /static-offline-docs, instead of a CDN.
Two images would still be fetched from the internet; both are stopped here:
- Swagger UI's validator badge (validator.swagger.io), shown when the page is not opened
  on localhost: turned off with `validatorUrl: null`.
- ReDoc's "API docs by Redocly" logo (cdn.redoc.ly), which ReDoc 2 always renders: the
  docs pages carry a Content-Security-Policy that lets them load only from their own
  origin, so the browser never sends that request and ReDoc hides the broken image.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = frozenset({"/docs", "/redoc"})
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
# Inline scripts and styles: Swagger UI's start-up script, both UIs' generated styles.
# blob: workers: ReDoc's search index.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:"
)


class DocsContentSecurityPolicyMiddleware:
    """Adds CONTENT_SECURITY_POLICY to the docs pages' responses; other paths pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.header = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOCS_PATHS:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_with_policy)
