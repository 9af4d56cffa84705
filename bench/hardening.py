"""The benchmark's hardening phases: slow and idle clients, and greedy requests.

    python -m bench.hardening attack --port PORT --slow 200 --idle 500 --seconds 15

`attack` (run as its own process, so it does not share the measuring client's CPU) opens
`slow` connections that send a request head one byte every 0.5 s, and `idle` connections
(half of them silent from the start, half kept alive after one request), then prints, as
one JSON line, how long the server let each kind live. `greedy_requests` sends bodies
declared as 100 MiB and 64 MiB headers, for the peak-memory check. Standard library only.
"""

import argparse
import asyncio
import json
import resource
import socket
import statistics
import sys
import time
from dataclasses import dataclass

SLOW_BYTE_INTERVAL_S = 0.5
BIG_BODY_BYTES = 100 * 1024 * 1024
BIG_HEADER_BYTES = 64 * 1024 * 1024
CHUNK = b"x" * (1 << 20)


@dataclass
class Lifetimes:
    closed: list[float]
    still_open: int


async def _slow_client(port: int, seconds: float) -> float | None:
    """Send a head one byte at a time; seconds until the server closed it, or None."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"GET /health HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"s" * 10_000
    try:
        for byte in head:
            if time.monotonic() - started > seconds:
                return None
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                await asyncio.wait_for(reader.read(4096), SLOW_BYTE_INTERVAL_S)
            except TimeoutError:
                continue
            return time.monotonic() - started  # an answer (408) or EOF: the server ended it
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()
    return None


async def _idle_client(port: int, seconds: float, after_request: bool) -> float | None:
    """Stay idle (after one request, if asked); seconds until the server closed it, or None."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if after_request:
            writer.write(b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n")
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
        started = time.monotonic()
        try:
            while await asyncio.wait_for(reader.read(4096), seconds - (time.monotonic() - started)):
                pass
        except TimeoutError:
            return None
        return time.monotonic() - started
    except (ConnectionError, asyncio.IncompleteReadError):
        return 0.0
    finally:
        writer.close()


def _summary(results: list[float | None]) -> dict[str, float | int]:
    closed = [r for r in results if r is not None]
    return {
        "count": len(results),
        "closed": len(closed),
        "still_open": len(results) - len(closed),
        "max_lifetime_s": round(max(closed, default=0.0), 2),
        "median_lifetime_s": round(statistics.median(closed), 2) if closed else 0.0,
    }


async def attack(port: int, slow: int, idle: int, seconds: float) -> dict[str, object]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * (slow + idle))), hard))
    fresh, kept = idle // 2, idle - idle // 2
    results = await asyncio.gather(
        *(_slow_client(port, seconds) for _ in range(slow)),
        *(_idle_client(port, seconds, after_request=False) for _ in range(fresh)),
        *(_idle_client(port, seconds, after_request=True) for _ in range(kept)),
    )
    return {
        "slow_header": _summary(list(results[:slow])),
        "idle_fresh": _summary(list(results[slow : slow + fresh])),
        "idle_kept_alive": _summary(list(results[slow + fresh :])),
    }


def greedy_requests(port: int, path: str, rounds: int) -> int:
    """Send `rounds` bodies declared as 100 MiB and `rounds` 64 MiB headers, each until the
    server answers or closes; the number the server answered with 413 or 431."""
    refused = 0
    for _ in range(rounds):
        for head, payload_bytes in (
            (
                f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {BIG_BODY_BYTES}\r\n\r\n".encode(),
                BIG_BODY_BYTES,
            ),
            (b"GET /health HTTP/1.1\r\nHost: bench\r\nX-Big: ", BIG_HEADER_BYTES),
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(head)
                sent = 0
                try:
                    while sent < payload_bytes:
                        sock.sendall(CHUNK)
                        sent += len(CHUNK)
                except OSError:
                    pass  # the server answered and closed: the point
                try:
                    status = sock.recv(64)
                except OSError:
                    status = b""
                if status.startswith((b"HTTP/1.1 413", b"HTTP/1.1 431")):
                    refused += 1
    return refused


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hardening")
    commands = parser.add_subparsers(dest="command", required=True)
    attack_command = commands.add_parser("attack", help="slow and idle connections")
    attack_command.add_argument("--port", type=int, required=True)
    attack_command.add_argument("--slow", type=int, default=200)
    attack_command.add_argument("--idle", type=int, default=500)
    attack_command.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    report = asyncio.run(attack(args.port, args.slow, args.idle, args.seconds))
    print("HARDENING_JSON " + json.dumps(report), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
