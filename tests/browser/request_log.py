"""What a browser tab requested, and the check that it all stayed on the services."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Request, Response, Route


@dataclass
class RequestLog:
    """Every request one page made, and what became of those that did not stay local."""

    allowed_ports: set[int]
    requested: list[str] = field(default_factory=list)
    blocked_by_csp: set[str] = field(default_factory=set)
    escaped: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob"):
            return True
        return (
            parts.scheme == "http"
            and parts.hostname == "127.0.0.1"
            and parts.port in self.allowed_ports
        )

    def on_request(self, request: "Request") -> None:
        self.requested.append(request.url)

    def on_request_failed(self, request: "Request") -> None:
        # An image the page's Content-Security-Policy stopped in the browser: nothing was
        # sent, and the page works without it (ReDoc's Redocly logo). A blocked script or
        # stylesheet still counts as leaving: the page would be broken without it.
        if request.failure == "csp" and request.resource_type == "image":
            self.blocked_by_csp.add(request.url)

    def on_response(self, response: "Response") -> None:
        if response.status >= 400:
            self.failed_responses.append(f"{response.status} {response.url}")

    def route(self, route: "Route") -> None:
        """Let loopback requests through; abort and record any other (it would leave)."""
        if self.is_local(route.request.url):
            route.continue_()
        else:
            self.escaped.append(route.request.url)
            route.abort()

    def assert_clean(self) -> None:
        """No request left 127.0.0.1, no asset failed to load, no script error."""
        external = [url for url in self.requested if not self.is_local(url)]
        not_blocked = [url for url in external if url not in self.blocked_by_csp]
        assert not self.escaped, f"requests leaving 127.0.0.1: {self.escaped}"
        assert not not_blocked, f"requests leaving 127.0.0.1: {not_blocked}"
        assert not self.failed_responses, f"failed responses: {self.failed_responses}"
        assert not self.page_errors, f"script errors: {self.page_errors}"
        if self.blocked_by_csp:
            print(f"\n  blocked in the browser by the page's CSP: {sorted(self.blocked_by_csp)}")
