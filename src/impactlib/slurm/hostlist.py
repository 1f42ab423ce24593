"""SLURM host lists (``node[01-03,07],gpu01``) expanded to host names.

``sacct`` prints a job's nodes in this compressed form; the daemon keeps its figures per
host name, so matching the two needs every name spelled out. Zero padding is kept
(``node[08-10]`` -> node08, node09, node10) and several bracket groups in one name
(``rack[1-2]-n[1-2]``) multiply out.
"""

from __future__ import annotations

import re

_GROUP = re.compile(r"\[([^\]]*)\]")


def _range(part: str) -> list[str]:
    first, dash, last = part.partition("-")
    if not dash:
        return [first]
    width = len(first)
    return [str(n).zfill(width) for n in range(int(first), int(last) + 1)]


def _expand_one(name: str) -> list[str]:
    match = _GROUP.search(name)
    if match is None:
        return [name]
    head, tail = name[: match.start()], name[match.end() :]
    out = []
    for part in match.group(1).split(","):
        for value in _range(part):
            out += _expand_one(head + value + tail)
    return out


def _top_level(text: str) -> list[str]:
    """Split on the commas outside brackets."""
    names, depth, current = [], 0, ""
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += char
    return [*names, current]


def expand(text: str | None) -> list[str]:
    """Every host of a host list (``ValueError`` for a malformed range)."""
    if not text or text in ("None assigned", "(null)"):
        return []
    return [host for name in _top_level(text.strip()) if name for host in _expand_one(name)]
