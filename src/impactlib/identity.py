"""Who and what ran: user, host, command and git commit, read without subprocesses."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path


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
