"""Free TCP ports on loopback."""

import socket


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Distinct ports free right now (held open together, so never the same one twice).

    Bound once by the OS, then released: nothing listens on them, and a test or service
    can bind them next.
    """
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port(host: str = "127.0.0.1") -> int:
    [port] = free_ports(1, host)
    return port
