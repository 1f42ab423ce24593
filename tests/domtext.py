"""Text of a page Chromium drew (``--dump-dom``): an element's text, a table's cells."""

from __future__ import annotations

import html
import re


def element_text(dom: str, element_id: str, closers: str = "div|p|ul|table") -> str:
    """The text inside the element ``element_id`` (up to its first closing tag of a kind
    in ``closers``), tags dropped, entities decoded, spaces at the ends stripped."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:{closers})>', dom, re.S)
    assert found, element_id
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def table_rows(dom: str, table_id: str) -> list[list[str]]:
    """The cell texts of table ``table_id``, row by row (header row included)."""
    found = re.search(rf'<table id="{table_id}"[^>]*>(.*?)</table>', dom, re.S)
    assert found, table_id
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell))
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S)
    ]
