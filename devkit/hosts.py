"""A process with its own /etc/hosts: a name that resolves to several loopback addresses,
as a compose service scaled up resolves to its containers, with the system's real resolver.

The process runs in a private mount namespace (`unshare --mount`, which needs root) where
a file of ours is bind-mounted over /etc/hosts. The file is rewritten in place (same
inode), so a name gaining or losing an address is seen at the next lookup.
"""

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

LOCALHOST_LINES = "127.0.0.1 localhost\n::1 localhost\n"

# `sh -c SCRIPT HOSTS COMMAND...`: $0 is the hosts file, "$@" the command, exec'd so the
# command keeps the pid the caller signals.
_MOUNT_THEN_RUN = 'mount --bind "$0" /etc/hosts && exec "$@"'


def own_hosts_unavailable() -> str | None:
    """Why a process cannot have its own /etc/hosts here, or None when it can."""
    if os.geteuid() != 0:
        return "a private /etc/hosts needs root (unshare --mount)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare --mount fails: {probe.stderr.decode(errors='replace').strip()}"
    return None


def write_hosts(path: Path, names: Mapping[str, Sequence[str]]) -> None:
    """Make `path` say each name has these addresses (in place: the same file stays mounted)."""
    lines = [f"{address} {name}\n" for name, addresses in names.items() for address in addresses]
    path.write_text(LOCALHOST_LINES + "".join(lines))


def with_own_hosts(hosts_file: Path, command: Sequence[str]) -> list[str]:
    """`command`, run with `hosts_file` as its /etc/hosts."""
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        _MOUNT_THEN_RUN,
        str(hosts_file),
        *command,
    ]
