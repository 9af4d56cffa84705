"""Connection limits for uvicorn's httptools protocol: a slow or greedy client gets a clear,
bounded answer instead of holding a connection, memory or a file descriptor forever.

Per worker process:
- MAX_HEADER_BYTES: the request head (request line and headers) is counted as it arrives,
  before httptools sees it, so a 64 MiB header is cut off at the limit (httptools would
  otherwise concatenate it piece by piece) and answered 431.
- HEADER_TIMEOUT_S: from the accept, or from the first byte of the next request on a
  kept-alive connection, until the head is complete; then the connection is closed (with
  a 408 if part of a request came).
- KEEPALIVE_TIMEOUT_S: the idle time between requests. Unlike uvicorn's own timer, stray
  bytes that start no request (a CRLF dripped every second) do not reset it.
- MAX_CONNECTIONS: the connections over it get a 503 at once and are closed. The limit
  is kept below the file-descriptor limit (raised at start-up when it can be), so new
  clients are never reset silently by a process out of descriptors.

Refusals and timeouts are logged without flooding: the first refusal after a quiet spell
at once, then one summary line per interval with the counts.

uvicorn pickles its Config into each worker it spawns; BoundedConfig carries the limits
as an attribute, so they reach every worker. The measured cost is in the README's
benchmark section.
"""

import asyncio
import logging
import resource
import weakref
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from service_common.draining import DRAINING_STATE_KEY, Draining

logger = logging.getLogger("uvicorn.error")

TOO_LARGE_BODY = b'{"detail":"Request header fields too large"}'
TOO_MANY_BODY = b'{"detail":"Too many connections"}'
HEADER_TIMEOUT_BODY = b'{"detail":"Request header timeout"}'


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int = 16 * 1024
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 5.0
    max_connections: int = 1000
    """Open connections per worker process."""
    log_interval_s: float = 10.0
    """At most one summary line per interval."""
    linger_s: float = 2.0
    """After a final answer (431, 503, or the app's 413) with input still coming, how long
    that input is drained, so that the client reads the answer instead of a reset."""
    linger_max_bytes: int = 64 << 20
    """... and how much of it, at most (it is dropped, never stored)."""
    max_lingering: int = 64
    """Draining connections beyond this many are closed at once."""
    fd_reserve: int = 256
    """File descriptors kept free for the app (logs, the pool to the predictor, ...)."""

    @property
    def fds_needed(self) -> int:
        return self.max_connections + self.max_lingering + self.fd_reserve


class FileLimitTooLow(ValueError):
    """RLIMIT_NOFILE's hard limit cannot hold MAX_CONNECTIONS."""


def ensure_fd_budget(limits: ConnectionLimits) -> int:
    """Raise the soft RLIMIT_NOFILE so `max_connections` fits; the soft limit in force.

    Spawned workers inherit it. FileLimitTooLow when the hard limit is too low.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = limits.fds_needed
    if soft == resource.RLIM_INFINITY or soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        raise FileLimitTooLow(
            f"MAX_CONNECTIONS={limits.max_connections} needs {need} file descriptors "
            f"(with {limits.max_lingering + limits.fd_reserve} kept for the app), but the hard "
            f"limit is {hard}: lower MAX_CONNECTIONS or raise the limit (ulimit -Hn, "
            "docker --ulimit nofile=...)"
        )
    new_soft = need if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    logger.info("Raised the open-file limit from %d to %d (need %d)", soft, new_soft, need)
    return new_soft


class BoundedConfig(Config):
    """uvicorn's Config with the limits, and the bounded protocol as its HTTP protocol."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **options: Any) -> None:
        options["http"] = BoundedHttpToolsProtocol
        options["timeout_keep_alive"] = limits.keepalive_timeout_s
        super().__init__(app, **options)
        self.connection_limits = limits

    def load(self) -> None:
        ensure_fd_budget(self.connection_limits)  # in every worker process too
        super().load()


class LimitEvents:
    """The refusals and timeouts of one server (process), and their rate-limited log."""

    KINDS = ("rejected", "too_large", "header_timeout", "idle_timeout")

    def __init__(self, limits: ConnectionLimits, loop: asyncio.AbstractEventLoop) -> None:
        self.limits = limits
        self.loop = loop
        self.totals = dict.fromkeys(self.KINDS, 0)
        self.pending = dict.fromkeys(self.KINDS, 0)
        self.lingering = 0
        self.open_connections = 0
        self._warned = False  # a refusal was logged in this interval
        self._flush_handle: asyncio.TimerHandle | None = None

    def note(self, kind: str) -> None:
        self.totals[kind] += 1
        if not self._warned and kind in ("rejected", "too_large"):
            self._warned = True
            # The first problem after a quiet spell is said at once; the rest are summed up.
            if kind == "rejected":
                logger.warning(
                    "Connection limit reached (%d open, MAX_CONNECTIONS=%d per process): "
                    "answering 503 and closing; further events summed up every %g s",
                    self.open_connections,
                    self.limits.max_connections,
                    self.limits.log_interval_s,
                )
            else:
                logger.warning(
                    "Request header section over MAX_HEADER_BYTES=%d: answered 431; "
                    "further events summed up every %g s",
                    self.limits.max_header_bytes,
                    self.limits.log_interval_s,
                )
        else:
            self.pending[kind] += 1
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_later(self.limits.log_interval_s, self._flush)

    def flush(self) -> None:
        """Log the summary of what is pending now (the server is shutting down)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush()
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_handle = None

    def _flush(self) -> None:
        self._flush_handle = None
        self._warned = False
        counts = self.pending
        if not any(counts.values()):
            return
        level = logging.WARNING if counts["rejected"] or counts["too_large"] else logging.INFO
        logger.log(
            level,
            "Connection limits in the last %g s: %d refused over MAX_CONNECTIONS=%d "
            "(%d open now), %d header sections over %d bytes (431), %d header timeouts "
            "(%g s), %d idle keep-alive timeouts (%g s)",
            self.limits.log_interval_s,
            counts["rejected"],
            self.limits.max_connections,
            self.open_connections,
            counts["too_large"],
            self.limits.max_header_bytes,
            counts["header_timeout"],
            self.limits.header_timeout_s,
            counts["idle_timeout"],
            self.limits.keepalive_timeout_s,
        )
        self.pending = dict.fromkeys(self.KINDS, 0)
        self._flush_handle = self.loop.call_later(self.limits.log_interval_s, self._flush)


_events_of: "weakref.WeakKeyDictionary[ServerState, LimitEvents]" = weakref.WeakKeyDictionary()

_READING_HEAD, _IDLE = 0, 1  # what the connection's one deadline stands for

IDLE_CLOSE_DELAY_S = 0.1
"""At shutdown, how long an idle kept-alive connection stays open for a request that may
already be on its way (it is answered, with `Connection: close`)."""
_JSON = b"content-type: application/json\r\n"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of `BoundedConfig.connection_limits`."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = getattr(config, "connection_limits", None) or ConnectionLimits()
        self._limits = limits
        events = _events_of.get(server_state)
        if events is None:
            events = _events_of[server_state] = LimitEvents(limits, self.loop)
        self._events = events
        self._in_head = True  # the bytes received now belong to a request head
        self._head_bytes = 0  # of the current head, so far
        self._heads_done = 0
        self._begun = False  # on_message_begin seen for the current head
        self._deadline: float | None = None  # None: the app has the request
        self._deadline_kind = _READING_HEAD
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._closing = False  # the server is shutting down
        self._draining = False  # after a 431 or 503: input is dropped until the close
        self._drained = 0
        self._lingering = False

    # Connection lifecycle.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._events.open_connections = len(self.connections)
        if len(self.connections) >= self._limits.max_connections:
            self.transport = transport
            self._events.note("rejected")
            self._answer_and_linger(503, TOO_MANY_BODY)
            return
        super().connection_made(transport)
        self._arm(self.loop.time() + self._limits.header_timeout_s, _READING_HEAD)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = None
        if self._lingering:
            self._lingering = False
            self._events.lingering -= 1
        super().connection_lost(exc)

    # One timer per connection, for the header and the idle deadline alike: a deadline
    # that moves later re-arms the timer when it fires, instead of a new timer per request.
    def _arm(self, deadline: float, kind: int) -> None:
        self._deadline = deadline
        self._deadline_kind = kind
        if self._timer is None or deadline < self._timer_when:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_at(deadline, self._on_timer)
            self._timer_when = deadline

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._draining or self.transport.is_closing():
            return
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._on_timer)
            self._timer_when = deadline
            return
        self._deadline = None
        if self._deadline_kind == _IDLE:
            self._events.note("idle_timeout")
            self.transport.close()
            return
        if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
            # An earlier pipelined request still runs; its end restarts the header clock.
            return
        self._events.note("header_timeout")
        if self._begun or self._head_bytes:
            self._write_answer(408, HEADER_TIMEOUT_BODY)
        self.transport.close()

    # Input.
    def data_received(self, data: bytes) -> None:
        # Unlike uvicorn's, bytes alone do not reset the idle deadline; a request's start does.
        if self._draining:
            self._drained += len(data)
            if self._drained > self._limits.linger_max_bytes:
                self.transport.close()
            return
        if self._in_head and self._head_bytes + len(data) > self._limits.max_header_bytes:
            fits = self._limits.max_header_bytes - self._head_bytes
            heads_before = self._heads_done
            view = memoryview(data)
            if fits > 0 and not self._feed(view[:fits]):
                return
            if self._heads_done == heads_before:  # the head is still incomplete at the limit
                if not self.transport.is_closing():
                    self._events.note("too_large")
                    self._answer_and_linger(431, TOO_LARGE_BODY)
                return
            self._feed(view[fits:])
            return
        if self._in_head:
            self._head_bytes += len(data)
        self._feed(data)

    def _feed(self, data: bytes | memoryview) -> bool:
        """Parse `data` as uvicorn's data_received does; False when the connection is done."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        return True

    # Parser callbacks.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True
        if self._deadline is None or self._deadline_kind == _IDLE:
            # The first byte of a request on a kept-alive (or busy, pipelined) connection.
            self._arm(self.loop.time() + self._limits.header_timeout_s, _READING_HEAD)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._begun = False
        self._head_bytes = 0
        self._heads_done += 1
        self._deadline = None  # a pending timer sees this and drops itself
        super().on_headers_complete()
        if self._closing and self.cycle is not None:
            self.cycle.keep_alive = False  # shutting down: the answer says Connection: close
        if self.cycle is not None:
            # The cycle closes the transport after a `connection: close` answer; if the
            # body is still coming (a 413 for a declared 100 MiB), it must drain first.
            self.cycle.transport = _DrainBeforeClose(self, self.transport)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # uvicorn's, with the connection's deadline instead of a new timer per response.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._begun or self._head_bytes:
            # The next request had begun to arrive (perhaps while reading was paused).
            self._arm(self.loop.time() + self._limits.header_timeout_s, _READING_HEAD)
        else:
            self._arm(self.loop.time() + self._limits.keepalive_timeout_s, _IDLE)

    # Answers written by the protocol itself.
    def _write_answer(self, status: int, body: bytes) -> None:
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend([_JSON, b"content-length: ", str(len(body)).encode("ascii"), b"\r\n"])
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)

    def shutdown(self) -> None:
        """The server's graceful shutdown began: tell the app; then the request in progress
        is finished and answered with `Connection: close`, and an idle connection is closed
        after IDLE_CLOSE_DELAY_S, unless a request arrives on it meanwhile (it may already
        be on its way, or unread in the socket: closing at once would reset it)."""
        draining = self.app_state.get(DRAINING_STATE_KEY)
        if isinstance(draining, Draining):
            draining.begin()
        self._events.flush()
        self._closing = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        elif not self.transport.is_closing():
            self.loop.call_later(IDLE_CLOSE_DELAY_S, self._close_if_idle)

    def _close_if_idle(self) -> None:
        busy = (
            self._begun
            or self._head_bytes
            or (self.cycle is not None and not self.cycle.response_complete)
        )
        if not busy and not self.transport.is_closing():
            self.transport.close()

    def close_after_answer(self) -> None:
        """Close after the app's last answer: at once if the request was read in full, else
        after draining what the client is still sending."""
        if self._in_head or self._draining:
            self.transport.close()
        else:
            self._linger()

    def _answer_and_linger(self, status: int, body: bytes) -> None:
        """Answer, then close once the client's input has drained (see `_linger`)."""
        self._write_answer(status, body)
        self._linger()

    def _linger(self) -> None:
        """Half-close, drop input for a moment, then close.

        Closing a socket that still has unread input makes the kernel send a reset, and
        the client may then lose the answer; draining first avoids that.
        """
        self._draining = True
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.flow is not None:
            self.flow.resume_reading()
        transport = self.transport
        if transport.is_closing():
            return
        if self._events.lingering >= self._limits.max_lingering or not transport.can_write_eof():
            transport.close()
            return
        self._events.lingering += 1
        self._lingering = True
        transport.write_eof()
        self._timer = self.loop.call_later(self._limits.linger_s, transport.close)


class _DrainBeforeClose:
    """The transport as a request's cycle sees it: closing goes through the protocol."""

    def __init__(self, protocol: BoundedHttpToolsProtocol, transport: asyncio.Transport) -> None:
        self._protocol = protocol
        self._transport = transport

    def close(self) -> None:
        self._protocol.close_after_answer()

    def write(self, data: bytes) -> None:
        self._transport.write(data)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
