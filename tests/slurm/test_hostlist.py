"""SLURM host lists spelled out."""

from __future__ import annotations

import pytest

from impactlib.slurm.hostlist import expand


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("node01", ["node01"]),
        ("node[08-10],gpu01", ["node08", "node09", "node10", "gpu01"]),
        ("n[1,3-4]", ["n1", "n3", "n4"]),
        ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
        ("None assigned", []),
        (None, []),
    ],
)
def test_expand(text: str | None, hosts: list[str]) -> None:
    assert expand(text) == hosts


def test_a_malformed_range_is_refused() -> None:
    with pytest.raises(ValueError):
        expand("node[a-c]")
