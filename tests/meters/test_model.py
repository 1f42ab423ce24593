"""The estimation models: the CPU's full-load power from /proc/cpuinfo (one read: model,
sockets, cores) and the floors the models declare."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from impactlib.meters import tdp
from impactlib.meters.model import IDLE_FRACTION, CpuModelMeter, MemoryModelMeter, cpu_power_w

XEON = "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz"


def fake_proc(tmp_path: Path, cpuinfo: str | None) -> str:
    """A procfs root with ``cpuinfo`` (left out when None), ``stat`` and ``meminfo``."""
    if cpuinfo is not None:
        (tmp_path / "cpuinfo").write_text(cpuinfo)
    (tmp_path / "stat").write_text("cpu  100 0 50 1000 0 0 0 0 0 0\n")
    (tmp_path / "meminfo").write_text("MemTotal:       16000000 kB\n")
    return str(tmp_path)


def cpuinfo(model: str, sockets: int, cores_per_socket: int) -> str:
    """Two hyper-threads per core, as x86 kernels list them."""
    blocks: list[str] = []
    for socket in range(sockets):
        for core in range(cores_per_socket):
            for _ in range(2):
                blocks.append(
                    f"processor\t: {len(blocks)}\nmodel name\t: {model}\n"
                    f"physical id\t: {socket}\ncore id\t\t: {core}\n"
                )
    return "\n".join(blocks)


def test_known_model_is_its_tdp_times_the_sockets(tmp_path: Path) -> None:
    watts, source = cpu_power_w(fake_proc(tmp_path, cpuinfo(XEON, 2, 4)), None)
    entry = tdp.cpu_tdp(XEON)
    assert entry.tdp_w is not None
    assert watts == entry.tdp_w * 2
    assert "x 2 socket(s)" in source and entry.name in source


def test_unknown_model_is_the_default_per_physical_core(tmp_path: Path) -> None:
    watts, source = cpu_power_w(fake_proc(tmp_path, cpuinfo("Mystery CPU 9000", 2, 3)), None)
    assert watts == tdp.GA_DEFAULT_W_PER_CORE * 6  # hyper-threads are not cores
    assert "'Mystery CPU 9000' not in the bundled tables" in source and "6 core(s)" in source


def test_without_cpuinfo_the_logical_cpus_count(tmp_path: Path) -> None:
    watts, source = cpu_power_w(fake_proc(tmp_path, None), None)
    assert watts == tdp.GA_DEFAULT_W_PER_CORE * (os.cpu_count() or 1)
    assert "'unknown'" in source


def test_configured_tdp_wins(tmp_path: Path) -> None:
    assert cpu_power_w(fake_proc(tmp_path, cpuinfo(XEON, 2, 4)), 95.0)[0] == 95.0


def test_models_declare_their_idle_power(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, cpuinfo("Mystery CPU 9000", 1, 2))
    cpu = CpuModelMeter(root)
    try:
        assert cpu.idle_power_w() == pytest.approx(cpu.tdp_w * IDLE_FRACTION)
        assert cpu.diagnostics() == [] and cpu.device_names() == {}
    finally:
        cpu.close()
    memory = MemoryModelMeter(root, w_per_gb=0.5)
    assert memory.idle_power_w() == pytest.approx(0.5 * 16.384)  # all of it is static
