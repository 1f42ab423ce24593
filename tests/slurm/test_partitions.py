"""Partition hardware from a configuration table or a TOML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from impactlib.slurm.partitions import PartitionHardware, parse_partitions, partition_named


def test_a_table_and_a_file_give_the_same_partitions(tmp_path: Path) -> None:
    table = {"gpu": {"gpu": "NVIDIA A100 SXM4 40 GB", "cpu_w_per_core": 10, "cores_per_node": 32}}
    path = tmp_path / "partitions.toml"
    path.write_text(
        '[gpu]\ngpu = "NVIDIA A100 SXM4 40 GB"\ncpu_w_per_core = 10\ncores_per_node = 32\n'
    )
    expected = (
        PartitionHardware(
            "gpu", gpu="NVIDIA A100 SXM4 40 GB", cpu_w_per_core=10.0, cores_per_node=32
        ),
    )
    assert parse_partitions(table) == parse_partitions(str(path)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"gpu": {"gpus": 4}},  # unknown field
        {"gpu": {"gpu_w": -1}},
        {"gpu": {"cores_per_node": 0}},
        {"gpu": {"exclusive": "yes"}},
        {"gpu": "A100"},
        "/nonexistent/partitions.toml",
        42,
    ],
)
def test_anything_else_is_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_partitions(raw)


def test_a_job_on_several_partitions_uses_the_first_configured_one() -> None:
    partitions = parse_partitions({"b": {"exclusive": True}, "c": {}})
    chosen = partition_named(partitions, "a,c,b")
    assert chosen is not None and chosen.name == "c"
    assert partition_named(partitions, None) is None
