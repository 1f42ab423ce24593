"""The fenced code blocks of a docs page, for the tests that run a page's examples (a block
no test knows fails those tests: a new example comes with a way to run it)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class Block(NamedTuple):
    """A fenced code block of a page, with the section (the heading above it) it is in."""

    language: str
    text: str
    section: str


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, in order."""
    found, section = [], ""
    lines = iter(page.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        elif line.startswith("```"):
            body = []
            for inner in lines:
                if inner.startswith("```"):
                    break
                body.append(inner)
            found.append(Block(line[3:].strip(), "\n".join(body), section))
    return found
