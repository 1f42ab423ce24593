"""Containers named by their cgroups: every runtime and driver, cgroup v1 and v2, from
committed ``/proc/<pid>/cgroup`` files (tests/data/cgroups, one per layout, shaped as each
runtime writes them), and what is *not* a container."""

from __future__ import annotations

from pathlib import Path

import pytest

from impactlib.containers import container_of, container_of_cgroup, container_of_path
from impactlib.footprint import ChargedTo, Container, ContainerRuntime, Footprint

CGROUPS = Path(__file__).parent / "data" / "cgroups"
ID = "3f1c2e9b8a7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c"
POD = "0d8a7c21-4f6b-4e1a-9c3d-2b5e6f708192"
DOCKER, PODMAN = ContainerRuntime.DOCKER, ContainerRuntime.PODMAN
CONTAINERD, CRIO, CRI = ContainerRuntime.CONTAINERD, ContainerRuntime.CRIO, ContainerRuntime.CRI

EXPECTED: dict[str, Container | None] = {
    "docker-systemd-v2": Container(DOCKER, ID),
    "docker-systemd-v1": Container(DOCKER, ID),
    "docker-cgroupfs-v1": Container(DOCKER, ID),
    "docker-cgroupfs-v2": Container(DOCKER, ID),
    "podman-root-v2": Container(PODMAN, ID),
    "podman-rootless-v2": Container(PODMAN, ID),
    "podman-cgroupfs-v1": Container(PODMAN, ID),
    "containerd-kubepods-systemd-v2": Container(CONTAINERD, ID, POD),
    "containerd-guaranteed-systemd-v2": Container(CONTAINERD, ID, POD),
    "containerd-kubepods-systemd-v1": Container(CONTAINERD, ID, POD),
    "crio-kubepods-systemd-v2": Container(CRIO, ID, POD),
    "kubepods-cgroupfs-v1": Container(CRI, ID, POD),
    "kubepods-cgroupfs-v2": Container(CRI, ID, POD),
    # not containers: a runtime's monitor beside one, a login, a SLURM job, a private
    # cgroup namespace (seen from inside), this test machine's own, a truncated id
    "podman-conmon-v2": None,
    "crio-conmon-v2": None,
    "login-session-v2": None,
    "slurm-job-v2": None,
    "cgroup-namespace-v2": None,
    "this-machine-v1": None,
    "docker-short-id-v1": None,
}


def test_every_committed_layout_is_tested() -> None:
    assert sorted(p.stem for p in CGROUPS.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("layout", sorted(EXPECTED))
def test_each_layout_names_its_container_or_none(layout: str) -> None:
    text = (CGROUPS / f"{layout}.txt").read_text()
    assert container_of_cgroup(text) == EXPECTED[layout]


@pytest.mark.parametrize("layout", sorted(k for k, v in EXPECTED.items() if v is not None))
def test_a_process_is_found_in_its_container_through_a_fake_proc(
    layout: str, tmp_path: Path
) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "cgroup").write_text((CGROUPS / f"{layout}.txt").read_text())
    assert container_of(str(tmp_path), 42) == EXPECTED[layout]
    assert container_of(str(tmp_path), 43) is None  # gone: no container, no error


def test_garbage_and_lookalikes_name_no_container() -> None:
    for path in (
        "",
        "/",
        f"/docker/{ID}x",  # not a whole component
        f"/system.slice/docker-{ID}.service",
        f"/system.slice/mydocker-{ID}.scope",
        f"/pod{POD}/{ID}",  # a pod-like name outside kubepods
        f"/kubepods/burstable/{ID}",  # no pod above it
    ):
        assert container_of_path(path) is None, path
    assert container_of_cgroup("garbage\n\n::\n") is None


def test_a_record_keeps_its_container_and_reads_records_without_one() -> None:
    container = Container(PODMAN, ID)
    assert container.name == f"podman:{ID}" and container.runtime.label == "Podman"
    record = Footprint(
        run_id="r",
        charged_to=ChargedTo.TREE,
        idle_policy="usage",
        started_at="2026-01-01T00:00:00Z",
        ended_at=None,
        duration_s=1.0,
        components=(),
        pue=1.0,
        emissions_kg=0.0,
        carbon=None,
        container=container,
    )
    data = record.to_dict()
    assert data["container"] == {"runtime": "podman", "id": ID, "pod": ""}
    assert Footprint.from_dict(data).container == container
    older = {k: v for k, v in data.items() if k != "container"}
    assert Footprint.from_dict(older).container is None
    newer = {**data, "container": {"runtime": "lxc", "id": "x"}}  # a runtime not known yet
    assert Footprint.from_dict(newer).container is None
