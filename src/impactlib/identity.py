"""Who and what ran: user, host, command and git commit, read without subprocesses."""

from __future__ import annotations

import getpass
import os
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def current_user() -> str:
    """Login name (falls back to the numeric uid)."""
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())


def host_name() -> str:
    """This machine's host name (what ``socket.gethostname`` returns, without importing
    ``socket``: both read ``uname``)."""
    return os.uname().nodename


def command_line() -> str:
    """The running program's command line."""
    return " ".join([Path(sys.executable).name, *sys.argv]) if sys.argv and sys.argv[0] else ""


def git_commit(start: Path | None = None) -> str | None:
    """The commit checked out in the enclosing git work tree, read from ``.git`` directly
    (spawning ``git`` would cost tens of milliseconds on every tracker start)."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        git = candidate / ".git"
        if git.is_file():  # worktree or submodule: "gitdir: <path>"
            text = git.read_text().strip()
            if text.startswith("gitdir:"):
                git = (candidate / text.split(":", 1)[1].strip()).resolve()
        if git.is_dir():
            return _resolve_head(git)
    return None


def _resolve_head(git: Path) -> str | None:
    try:
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    ref = head.split(":", 1)[1].strip()
    common = git
    commondir = git / "commondir"
    if commondir.is_file():
        common = (git / commondir.read_text().strip()).resolve()
    for base in (git, common):
        ref_file = base / ref
        if ref_file.is_file():
            return ref_file.read_text().strip() or None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split(" ", 1)[0]
    return None


def system_info(
    procfs_root: str, ncpus: int, total_memory_bytes: float, gpu_names: Iterable[str]
) -> dict[str, Any]:
    """What the record says about the machine and software the run used: read here, at the
    start, because exports made later on another machine must not describe that one."""
    from .procfs import read_cpuinfo

    gpus = Counter(gpu_names)
    return {
        "os": _os_name(),
        "python": ".".join(str(v) for v in sys.version_info[:3]),
        "cpu_model": read_cpuinfo(procfs_root).model or "",
        "cpu_count": ncpus,
        "ram_total_bytes": int(total_memory_bytes),
        "gpus": dict(gpus),
    }


def hardware_line(system: dict[str, Any]) -> str:
    """One line naming the hardware, for the record and the methods paragraph."""
    parts = [f"CPU {system['cpu_model'] or 'unknown'} ({system['cpu_count']} logical CPUs)"]
    if system["gpus"]:
        parts.append("GPU " + ", ".join(f"{n} x {name}" for name, n in system["gpus"].items()))
    if system["ram_total_bytes"]:
        parts.append(f"{system['ram_total_bytes'] / 1e9:.1f} GB memory")
    return "; ".join(parts)


def _os_name() -> str:
    """What ``platform.platform()`` prints on Linux (``Linux-6.1.0-x86_64-with-glibc2.36``),
    without its cost: it scans the Python binary for the C library's version."""
    uname = os.uname()
    name = f"{uname.sysname}-{uname.release}-{uname.machine}"
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError, AttributeError):
        libc = ""
    return f"{name}-with-{libc.replace(' ', '')}" if libc.startswith("glibc") else name
