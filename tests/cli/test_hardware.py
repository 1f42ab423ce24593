"""``impactlib hardware`` on fake hardware: every domain, the zone plan, the diagnostics and
the exact fixes, whole and readable at 80 columns.

The command runs in-process so that the fake ``pynvml``/``amdsmi`` modules put in
``sys.modules`` are the ones it opens (a subprocess would import the real ones).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from clihelp import cli
from fakes.amdsmi import FakeAmdGpu, FakeAmdSmi
from fakes.pynvml import NVML_DEVICE_ARCH_TURING, NVML_ERROR_DRIVER_NOT_LOADED, FakeNvml
from powercap import FakePowercap
from typer.testing import CliRunner

from impactlib.cli.main import build_app

H100 = "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"
T4 = "GPU-c0ffee00-1111-2222-3333-444455556666"
MI300 = "3bff74a1-0000-1000-80d5-6e9bc2f1e1e0"


def hardware(powercap_root: Path, **env: str) -> str:
    """The command's output at 80 columns (it must succeed)."""
    result = CliRunner().invoke(
        build_app(),
        ["hardware"],
        env={"COLUMNS": "80", "IMPACTLIB_POWERCAP_ROOT": str(powercap_root), **env},
    )
    assert result.exit_code == 0, result.output
    return result.output


def assert_fits(output: str, width: int = 80) -> None:
    """No line is longer than ``width`` unless it is one unbreakable word (a path)."""
    for line in output.splitlines():
        assert len(line) <= width or " " not in line.strip(), line


@pytest.fixture
def no_amdsmi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "amdsmi", None)  # `import amdsmi` fails


@pytest.fixture
def mixed_gpus(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    """An H100 and a T4 whose NVML order is not PCI order, behind a loaded fake driver."""
    nvml = FakeNvml()
    nvml.add_gpu(H100, pci_bus_id="00000000:C1:00.0")
    nvml.add_gpu(T4, name="Tesla T4", pci_bus_id="00000000:05:00.0", arch=NVML_DEVICE_ARCH_TURING)
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    return nvml


def test_missing_amd_extra_is_printed_with_its_brackets(tmp_path: Path, no_amdsmi: None) -> None:
    output = hardware(tmp_path / "absent")
    assert "amd: the amdsmi module is not installed" in output
    assert "fix: pip install 'impactlib[amd]' (ROCm)" in output


def test_the_installed_command_prints_the_amd_extra(tmp_path: Path) -> None:
    # the real entry point, in a fresh interpreter, where amdsmi is really missing
    if _importable("amdsmi"):
        pytest.skip("amdsmi is installed here")
    result = cli("hardware", env={"COLUMNS": "80", "IMPACTLIB_POWERCAP_ROOT": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "impactlib[amd]" in result.stdout
    assert_fits(result.stdout)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_every_domain_the_zone_plan_diagnostics_and_fixes(
    tmp_path: Path, mixed_gpus: FakeNvml, no_amdsmi: None
) -> None:
    tree = FakePowercap.laptop(tmp_path)
    output = hardware(tree.root, CUDA_VISIBLE_DEVICES="0,1")
    # every domain, with its method, scope and provenance
    for domain in ("cpu:package-0", "dram:package-0", f"gpu:{H100}", f"gpu:{T4}"):
        assert domain in output
    assert (
        f"gpu:{T4}  nvml-energy, device scope\n      NVML index 1, PCI 00000000:05:00.0, Tesla T4"
        in output
    )
    assert "rapl, machine scope" in output
    # the RAPL zone plan: what is added up and why the rest is not
    assert f"RAPL zones (powercap)\n  {tree.root}\n  intel-rapl:0 package-0: reported as" in output
    assert "intel-rapl:1 psys: not used, platform total;" in output
    assert "intel-rapl:0:0 core: not used" in output
    # the NVML device-order warning, in words
    section = output.split("Reported by the meters", 1)[1]
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in section
    # memory is measured (dram), so no memory model; nothing estimated at all
    assert "memory:model" not in output and "Estimated" not in output
    assert "fix: pip install 'impactlib[amd]' (ROCm)" in output
    assert_fits(output)


def test_skipped_gpu_and_amd_gpu_are_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml()
    nvml.add_gpu(H100)
    nvml.add_gpu(T4, name="Tesla T4", pci_bus_id="00000000:05:00.0", energy_supported=False)
    nvml.fail("nvmlDeviceGetPowerUsage", 999, uuid=T4)
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    smi = FakeAmdSmi([FakeAmdGpu(MI300)])
    monkeypatch.setitem(sys.modules, "amdsmi", smi.module())
    output = hardware(tmp_path / "absent")
    assert f"gpu:{MI300}  amdsmi-energy, device scope\n" in output
    assert "15.3 µJ per count, AMD Instinct MI300X" in output
    reported = " ".join(output.split("Reported by the meters", 1)[1].split())
    assert f"NVIDIA GPU {T4} (Tesla T4) not measured: it reports neither energy" in reported
    # without RAPL the CPU and memory are estimated, and the section says so
    assert "Estimated (no meter could be read)" in output and "cpu:model" in output
    assert_fits(output)


def test_gpu_whose_driver_answers_but_nvml_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_amdsmi: None
) -> None:
    nvml = FakeNvml()
    nvml.add_gpu(H100)
    nvml.init_error = NVML_ERROR_DRIVER_NOT_LOADED
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    monkeypatch.setattr("impactlib.meters.driver.nvidia_driver_present", lambda: True)
    output = hardware(tmp_path / "absent")
    unavailable = " ".join(output.split("Not measured here", 1)[1].split())
    assert "nvidia: NVML did not start: NVML error 9" in unavailable
    assert "fix: install or load the NVIDIA driver (`nvidia-smi` must work)" in unavailable
    assert nvml.initialized == 0


def test_power_model_has_its_own_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from impactlib.cli import hardware as command

    monkeypatch.setattr(
        command, "power_model_lines", lambda config: ["  idle 10.0 W + 15.0 W per busy CPU"]
    )
    output = hardware(tmp_path / "absent")
    assert "Host power model\n  idle 10.0 W + 15.0 W per busy CPU\n" in output
