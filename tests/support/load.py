"""A small load generator for the integration tests: keep-alive clients that send one
request after another to a URL until stopped, recording when each was sent and what came
back (a status, or the kind of error instead of one).

It runs its own event loop in a thread, so that a test can start, signal and wait for
processes meanwhile. It is cheap on purpose (a few clients, an optional pause between a
client's requests, nothing logged per request): on a small machine the load generator
must not take the CPU the services under test need.
"""

import asyncio
import errno
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import aiohttp

ErrorKind = Literal["refused", "reset", "timeout", "other"]
Outcome = int | ErrorKind
"""An answer's status, or what kind of error came instead of an answer."""

# None: aiohttp's "Can not write request", on a connection the server has closed.
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, None})
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05


@dataclass(frozen=True)
class Answer:
    """What one request got."""

    client: int
    """Which client sent it (0 to concurrency - 1); each has one connection at a time."""
    sent_at: float
    """time.monotonic() when the request was sent."""
    answered_at: float
    """time.monotonic() when its answer, or its error, came."""
    outcome: Outcome
    connection_close: bool = False
    """The answer carried `Connection: close`."""
    error: str = ""
    """The error, when there was no answer."""
    served_by: str = ""
    """The answer's X-Served-By (the predictor replica that scored it), if any."""


def error_kind(error: Exception) -> ErrorKind:
    """How a request without an answer failed, as far as a client can tell."""
    if isinstance(error, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return "timeout"
    if isinstance(error, aiohttp.ClientConnectorError):
        return "refused" if error.os_error.errno == errno.ECONNREFUSED else "other"
    if isinstance(error, aiohttp.ServerDisconnectedError | ConnectionResetError) or (
        isinstance(error, aiohttp.ClientOSError) and error.errno in _RESET_ERRNOS
    ):
        return "reset"
    return "other"


def outcome_counts(answers: Iterable[Answer]) -> Counter[Outcome]:
    """How many answers had each outcome."""
    return Counter(answer.outcome for answer in answers)


class Load:
    """`concurrency` keep-alive clients sending `body` to `url` (a POST of JSON; a GET when
    `body` is None), each pausing `pause_s` between its requests, until stopped.

    `with Load(...) as load:` starts them; leaving the block (or `stop()`) stops them, and
    requests still waiting for an answer then are dropped, not recorded.
    """

    def __init__(
        self,
        url: str,
        body: bytes | None = None,
        *,
        concurrency: int = 8,
        pause_s: float = 0.0,
        timeout_s: float = 15.0,
    ) -> None:
        self.url = url
        self.body = body
        self.concurrency = concurrency
        self.pause_s = pause_s
        self.timeout_s = timeout_s
        self._answers: list[Answer] = []
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None

    @property
    def answers(self) -> list[Answer]:
        """The answers so far, in the order they came."""
        return list(self._answers)

    def __enter__(self) -> "Load":
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise RuntimeError(f"load generator did not start: {self._failure!r}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> list[Answer]:
        """Stop the clients (at once, dropping what is in flight); all the answers."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            assert not self._thread.is_alive(), "load generator did not stop"
        return self.answers

    def wait_until(self, condition: Callable[[list[Answer]], bool], guard_s: float) -> bool:
        """Wait until the answers so far meet `condition`, for at most `guard_s`; whether
        they did."""
        deadline = time.monotonic() + guard_s
        while not condition(self.answers):
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_INTERVAL_S)
        return True

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported by __enter__ or seen in the answers
            self._failure = error
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        sessions = [
            # One connection per client, kept alive; trust_env=False: no proxy.
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1), timeout=timeout, trust_env=False
            )
            for _ in range(self.concurrency)
        ]
        clients = [
            asyncio.create_task(self._client(number, session))
            for number, session in enumerate(sessions)
        ]
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            for client in clients:
                client.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
            for session in sessions:
                await session.close()

    async def _client(self, number: int, session: aiohttp.ClientSession) -> None:
        method = "GET" if self.body is None else "POST"
        headers = {} if self.body is None else {"Content-Type": "application/json"}
        while True:
            sent_at = time.monotonic()
            try:
                async with session.request(
                    method, self.url, data=self.body, headers=headers
                ) as response:
                    await response.read()
                close = response.headers.get("Connection", "").lower() == "close"
                served_by = response.headers.get("X-Served-By", "")
                answer = Answer(
                    number, sent_at, time.monotonic(), response.status, close, served_by=served_by
                )
            except Exception as error:
                kind = error_kind(error)
                answer = Answer(number, sent_at, time.monotonic(), kind, error=repr(error))
            self._answers.append(answer)
            if self.pause_s:
                await asyncio.sleep(self.pause_s)
