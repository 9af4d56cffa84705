"""Check that TCP ports are free before `make run` starts services on them.

    python3 scripts/check_ports.py HOST PORT [PORT ...]

Exits 0 when every port can be bound on HOST; otherwise prints, for each taken port, which
process holds it (name, pid and command line, from /proc, when this user may see them)
and exits 1. Standard library only.
"""

import errno
import socket
import sys
from pathlib import Path


def is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on `port` (any address), from /proc/net/tcp and tcp6."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def holders(port: int) -> list[str]:
    """`name (pid N): command line` of each process holding a listening socket on `port`."""
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    found = []
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            links = {str(fd.readlink()) for fd in (process / "fd").iterdir()}
            if not links & wanted:
                continue
            name = (process / "comm").read_text().strip()
            command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        found.append(f"{name} (pid {process.name}): {command}")
    return found


def main(argv: list[str]) -> int:
    host, *ports = argv
    taken = 0
    for text in ports:
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            print(f"port {text!r} is not a TCP port (1 to 65535)", file=sys.stderr)
            taken += 1
            continue
        port = int(text)
        if is_free(host, port):
            continue
        taken += 1
        found = holders(port)
        held_by = "; ".join(found) if found else "a process this user cannot see"
        print(f"port {port} is already in use, by {held_by}", file=sys.stderr)
    return 1 if taken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
