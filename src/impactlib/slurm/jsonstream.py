"""The elements of one list in a JSON object, decoded one at a time as the text arrives.

``sacct --json`` prints a month of a large cluster's jobs as gigabytes of pretty-printed
JSON; decoding it whole takes several times that in memory. This reads the top-level
object member by member from chunks of text, hands out each element of the named list as
soon as it is complete, and keeps only the text not yet decoded: memory stays near the size
of one element. The other members (sacct's ``meta``, ``errors``, ``warnings``) are decoded
and returned whole, wherever they are in the object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


class JsonStreamError(ValueError):
    """Malformed JSON: ``line`` (1-based, in the whole text) and what was wrong."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(f"line {line}: {why}")
        self.line = line
        self.why = why


class _Buffer:
    """Text not decoded yet, refilled from the chunks; knows the line it starts at."""

    def __init__(self, chunks: Iterable[str]) -> None:
        self._chunks = iter(chunks)
        self.text = ""
        self.pos = 0
        self.line = 1
        self.ended = False

    def more(self) -> bool:
        """Append the next chunk (False at the end of the text)."""
        if self.ended:
            return False
        chunk = next(self._chunks, None)
        if chunk is None:
            self.ended = True
            return False
        self.line += self.text.count("\n", 0, self.pos)
        self.text = self.text[self.pos :] + chunk
        self.pos = 0
        return True

    def more_doubled(self) -> bool:
        """Read until the text not decoded yet is twice as long (a large value is then
        decoded a few times, not once per chunk); False at the end of the text."""
        wanted = 2 * (len(self.text) - self.pos)
        if not self.more():
            return False
        while len(self.text) - self.pos < wanted and self.more():
            pass
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise self.error(f"expected {char!r}, found {found or 'the end'!r}")
        self.pos += 1

    def value(self) -> Any:
        """The next JSON value, reading more text until it is complete."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if self.more_doubled():
                    continue
                line = self.line + self.text.count("\n", 0, exc.pos)
                raise JsonStreamError(line, f"not JSON: {exc.msg}") from exc
            # a number at the end of a chunk may go on in the next one
            if end == len(self.text) and not isinstance(value, dict | list | str) and self.more():
                continue
            self.pos = end
            return value

    def error(self, why: str) -> JsonStreamError:
        return JsonStreamError(self.line + self.text.count("\n", 0, self.pos), why)


def list_member(chunks: Iterable[str], name: str, others: dict[str, Any]) -> Iterator[Any]:
    """Each element of the list ``name`` of the JSON object in ``chunks``; every other
    member is put in ``others``, and ``name`` too, as an empty list, once it is read (all
    there once the iterator is exhausted). Raises :class:`JsonStreamError` for malformed
    text, or a ``name`` that is not a list."""
    buffer = _Buffer(chunks)
    buffer.expect("{")
    if buffer.peek() == "}":
        buffer.pos += 1
        return
    while True:
        key = buffer.value()
        if not isinstance(key, str):
            raise buffer.error("expected a member name")
        buffer.expect(":")
        if key == name:
            if buffer.peek() != "[":
                others[key] = buffer.value()
                raise buffer.error(f"{name!r} is not a list")
            buffer.pos += 1
            others[key] = []
            if buffer.peek() == "]":
                buffer.pos += 1
            else:
                while True:
                    yield buffer.value()
                    if buffer.peek() == "]":
                        buffer.pos += 1
                        break
                    buffer.expect(",")
        else:
            others[key] = buffer.value()
        if buffer.peek() == "}":
            buffer.pos += 1
            break
        buffer.expect(",")
    if buffer.peek():
        raise buffer.error("text after the object")
