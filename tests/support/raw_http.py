"""HTTP/1.1 over a raw loopback socket: what an HTTP client library cannot send (a head
dripped byte by byte, a 64 MiB header, a body that stops early) and cannot show (when and
how the server ends the connection), for the tests of the servers' connection limits."""

import json
import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEAD_END = b"\r\n\r\n"
READ_SIZE = 65_536
IO_TIMEOUT_S = 10.0  # bounds every blocking call on a socket; answers come far sooner


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    """Lower-case names; the last value of a repeated header."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Ending:
    """How a connection ended: what came first, and when, counted from `started`."""

    data: bytes
    after_s: float
    reset: bool
    sent: int = 0
    """Bytes the client had dripped by then."""


def connect(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A TCP connection to `host:port` whose blocking calls give up after IO_TIMEOUT_S."""
    return socket.create_connection((host, port), timeout=IO_TIMEOUT_S)


def request_head(method: str, path: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A complete request head: request line, a Host header, `headers`, blank line."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines)).encode("latin-1") + HEAD_END


def head_of_size(size: int, path: str = "/health") -> bytes:
    """A GET head of exactly `size` bytes (request line to blank line), padded in a header."""
    bare = request_head("GET", path, [("X-Pad", "")])
    if size < len(bare):
        raise ValueError(f"a head needs at least {len(bare)} bytes")
    return request_head("GET", path, [("X-Pad", "a" * (size - len(bare)))])


def parse_response(data: bytes) -> RawResponse:
    """The first response in `data` (all of it: the head and the body Content-Length says)."""
    [response] = parse_responses(data, 1)
    return response


def parse_responses(data: bytes, count: int) -> list[RawResponse]:
    """The first `count` responses in `data`, which must hold all of them."""
    responses = complete_responses(data, count)
    assert responses is not None, f"not {count} complete response(s) in {data[:300]!r}"
    return responses


def complete_responses(data: bytes, count: int) -> list[RawResponse] | None:
    """The first `count` responses in `data`, or None while some of them are incomplete."""
    responses = []
    rest = data
    for _ in range(count):
        head, separator, rest = rest.partition(HEAD_END)
        if not separator:
            return None
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        protocol, status, *_ = status_line.split(" ", 2)
        assert protocol == "HTTP/1.1", status_line
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(rest) < length:
            return None
        responses.append(RawResponse(int(status), headers, rest[:length]))
        rest = rest[length:]
    return responses


def read_responses(sock: socket.socket, count: int = 1) -> list[RawResponse]:
    """Read `count` complete responses from a connection the server may keep open."""
    data = b""
    while (responses := complete_responses(data, count)) is None:
        chunk = sock.recv(READ_SIZE)
        assert chunk, f"closed before {count} complete response(s): {data[:300]!r}"
        data += chunk
    return responses


def read_until_closed(sock: socket.socket, started: float | None = None) -> Ending:
    """Everything the server sends until it closes (an end of stream or a reset)."""
    started = time.monotonic() if started is None else started
    data = b""
    while True:
        try:
            chunk = sock.recv(READ_SIZE)
        except ConnectionResetError:
            return Ending(data, time.monotonic() - started, reset=True)
        if not chunk:
            return Ending(data, time.monotonic() - started, reset=False)
        data += chunk


def is_quiet_for(sock: socket.socket, seconds: float) -> bool:
    """True when the server sends nothing and does not close within `seconds`."""
    readable, _, _ = select.select([sock], [], [], seconds)
    return not readable


def drip_until_closed(
    sock: socket.socket, payload: bytes, interval_s: float, guard_s: float, started: float
) -> Ending:
    """Send `payload` one byte every `interval_s` (cycling through it) until the server
    answers or closes; then read until it closes. Raises TimeoutError after `guard_s`."""
    sent = 0
    while time.monotonic() - started < guard_s:
        readable, _, _ = select.select([sock], [], [], interval_s)
        if readable:
            ending = read_until_closed(sock, started)
            return Ending(ending.data, ending.after_s, ending.reset, sent)
        try:
            sock.sendall(payload[sent % len(payload) : sent % len(payload) + 1])
        except (BrokenPipeError, ConnectionResetError):
            ending = read_until_closed(sock, started)
            return Ending(ending.data, ending.after_s, ending.reset, sent)
        sent += 1
    raise TimeoutError(f"connection still open after {guard_s} s ({sent} bytes dripped)")


def send_until_refused(sock: socket.socket, chunks: Iterable[bytes]) -> int:
    """Send `chunks` until the server stops taking them (closed, reset or stalled); the
    bytes sent."""
    sent = 0
    for chunk in chunks:
        try:
            sock.sendall(chunk)
        except OSError:  # a closed or reset connection, or a stalled send (timeout)
            return sent
        sent += len(chunk)
    return sent


def rss_bytes(pid: int) -> int:
    """The resident memory of process `pid` (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for process {pid}")
