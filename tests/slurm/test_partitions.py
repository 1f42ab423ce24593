"""Partition hardware from a configuration table or a TOML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_the_setting_is_read_here_and_a_bad_field_names_the_setting_and_its_source(
    tmp_path: Path,
) -> None:
    from impactlib.config import load_config
    from impactlib.errors import ConfigError
    from impactlib.slurm.partitions import configured_partitions

    assert configured_partitions(load_config({})) == ()
    good = load_config({"slurm_partitions": {"gpu": {"gpu_w": 300}}})
    assert configured_partitions(good) == (PartitionHardware("gpu", gpu_w=300.0),)
    (tmp_path / "impactlib.toml").write_text("[slurm_partitions.gpu]\ngpus = 4\n")
    bad = load_config(cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"slurm_partitions \(.*impactlib.toml\).*gpus"):
        configured_partitions(bad)


def test_the_configuration_checks_the_shape_only(tmp_path: Path) -> None:
    from impactlib.config import load_config
    from impactlib.errors import ConfigError

    for raw in ("/nonexistent/partitions.toml", 42, {"gpu": "A100"}):
        with pytest.raises(ConfigError, match="slurm_partitions"):
            load_config({"slurm_partitions": raw})


# -- the docs' own example, and what SLURM knows --------------------------------------------


def test_a_file_of_slurm_partitions_tables_as_impactlib_toml_writes_them(tmp_path: Path) -> None:
    """docs/slurm.md's block (``[slurm_partitions.debug]``) in a file of its own reads as
    the plain ``[debug]`` tables do."""
    plain, nested = tmp_path / "plain.toml", tmp_path / "nested.toml"
    plain.write_text('[debug]\ncpu = "Xeon Gold 6148"\ncores_per_node = 2\n')
    nested.write_text('[slurm_partitions.debug]\ncpu = "Xeon Gold 6148"\ncores_per_node = 2\n')
    assert parse_partitions(str(nested)) == parse_partitions(str(plain))
    assert parse_partitions(str(plain)) == (
        PartitionHardware("debug", cpu="Xeon Gold 6148", cores_per_node=2),
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[gpu]\ngpus = 4\n", "partition 'gpu': unknown field 'gpus'"),
        ("[gpu]\ngpu_w = -1\n", "partition 'gpu': gpu_w must be > 0"),
        ('[gpu]\nexclusive = "yes"\n', "partition 'gpu': exclusive must be true or false"),
        ('country = "FR"\n[slurm_partitions.gpu]\n', "mixes [slurm_partitions.NAME] tables"),
    ],
)
def test_a_refused_file_says_why(tmp_path: Path, text: str, why: str) -> None:
    from impactlib.config import load_config
    from impactlib.errors import ConfigError
    from impactlib.slurm.partitions import configured_partitions

    path = tmp_path / "partitions.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        configured_partitions(load_config({"slurm_partitions": str(path)}))
    assert why in str(refused.value)


PARTITION_LINES = (
    "PartitionName=debug OverSubscribe=NO TotalCPUs=2 TotalNodes=1 Nodes=vm\n"
    "PartitionName=big OverSubscribe=EXCLUSIVE TotalCPUs=96 TotalNodes=2 Nodes=n[1-2]\n"
    "PartitionName=mixed OverSubscribe=FORCE:4 TotalCPUs=96 TotalNodes=2 Nodes=n[3-4]\n"
)
NODE_LINES = (
    "NodeName=n1 CPUTot=48 Partitions=big\nNodeName=n2 CPUTot=48 Partitions=big\n"
    "NodeName=n3 CPUTot=32 Partitions=mixed\nNodeName=n4 CPUTot=64 Partitions=mixed\n"
)


def _scontrol(nodes: bool = True) -> Any:
    def answer(*args: str) -> str | None:
        if args[:2] == ("show", "partition"):
            return PARTITION_LINES
        return NODE_LINES if nodes and args[:2] == ("show", "node") else None

    return answer


def test_slurm_says_which_partitions_are_exclusive_and_their_cpus_per_node() -> None:
    """``OverSubscribe=EXCLUSIVE`` is whole nodes; CPUs per node where every node of the
    partition has the same count (a one-node partition's total where nodes are unknown)."""
    from impactlib.slurm.partitions import slurm_partitions

    assert slurm_partitions(_scontrol()) == (
        PartitionHardware("debug", cores_per_node=2),
        PartitionHardware("big", cores_per_node=48, exclusive=True),
        PartitionHardware("mixed"),  # 32 and 64 CPUs: no one count
    )
    big = slurm_partitions(_scontrol(nodes=False))[1]
    assert big == PartitionHardware("big", exclusive=True)  # 96 CPUs on 2 nodes: unknown
    assert slurm_partitions(lambda *args: None) == ()


def test_the_configuration_wins_over_slurm_where_both_say() -> None:
    from impactlib.config import load_config
    from impactlib.slurm.partitions import known_partitions

    config = load_config(
        {"slurm_partitions": {"debug": {"cores_per_node": 4, "gpu_w": 300}, "extra": {}}}
    )
    by_name = {p.name: p for p in known_partitions(config, _scontrol())}
    assert by_name["debug"] == PartitionHardware("debug", gpu_w=300.0, cores_per_node=4)
    assert by_name["big"] == PartitionHardware("big", cores_per_node=48, exclusive=True)
    assert by_name["extra"] == PartitionHardware("extra")


def test_a_cpu_with_only_a_package_tdp_is_estimated_per_core_from_its_green_algorithms_row(
    recwarn: pytest.WarningsRecorder,
) -> None:
    """The docs' ``Intel Xeon Gold 6148`` is CodeCarbon's package-only row; the Green
    Algorithms row of the same chip gives its watts per core. Said once, per partition."""
    from impactlib.config import load_config
    from impactlib.slurm.partitions import known_partitions

    raw = {"debug": {"cpu": "Intel Xeon Gold 6148"}, "old": {"cpu": "Intel Xeon Gold 6148"}}
    partitions = known_partitions(load_config({"slurm_partitions": raw}), lambda *a: None)
    assert [p.cpu for p in partitions] == ["Xeon Gold 6148", "Xeon Gold 6148"]
    said = [str(w.message) for w in recwarn.list if "Intel Xeon Gold 6148" in str(w.message)]
    assert len(said) == 2
    assert all("7.5 W/core" in line and "\n" not in line for line in said)
    assert {line.split(":")[1].strip() for line in said} == {"partition debug", "partition old"}


def test_ingest_knows_an_exclusive_partition_from_slurm_alone(tmp_path: Path) -> None:
    """No partition configured: ``scontrol show partition`` says "big" is
    ``OverSubscribe=EXCLUSIVE``, so its job's ConsumedEnergyRaw is its own."""
    import os

    from clihelp import cli
    from fakesacct import FakeSacct, cluster_jobs, recorded_scontrol

    from impactlib.store import open_store

    fake = FakeSacct(tmp_path)
    fake.answer(cluster_jobs())
    fake.scontrol(*recorded_scontrol())
    period = ["--since", "2025-11-01", "--until", "2025-12-01"]
    env = {"PATH": fake.path, "TZ": "UTC", "IMPACTLIB_COUNTRY": "FR"}
    done = cli("slurm", "ingest", *period, env=env)
    assert done.returncode == 0, done.stderr
    runs = open_store(os.environ["IMPACTLIB_STORE"]).list_runs()
    labels = {r.config["slurm"]["job_id"]: r.config["slurm"]["label"] for r in runs}
    assert labels["1004"] == "slurm-exclusive"
    assert labels["1001"] == "estimated"  # a shared job of a partition SLURM shares
