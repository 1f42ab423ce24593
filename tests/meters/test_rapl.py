"""RaplMeter against fake powercap trees: layouts, wraps, permissions, gaps."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from powercap import INTEL_RANGE_UJ, FakePowercap

from impactlib.errors import MeterUnavailable
from impactlib.meters.base import CounterAccumulator
from impactlib.meters.rapl import RaplMeter, find_zones

OpenRapl = Callable[..., RaplMeter]


@pytest.fixture
def rapl() -> Iterator[OpenRapl]:
    """Opens RaplMeters like the constructor and closes them after the test: a meter holds
    its counter files until ``close`` (there is no finaliser)."""
    opened: list[RaplMeter] = []

    def open_meter(*args: Any, **kwargs: Any) -> RaplMeter:
        meter = RaplMeter(*args, **kwargs)
        opened.append(meter)
        return meter

    yield open_meter
    for meter in opened:
        meter.close()


def ids(meter: RaplMeter) -> list[str]:
    return [domain.id for domain in meter.domains()]


def test_laptop_reports_package_and_dram_but_not_core_uncore_or_psys(
    tmp_path: Path, rapl: OpenRapl
) -> None:
    tree = FakePowercap.laptop(tmp_path)
    meter = rapl(tree.root)
    assert ids(meter) == ["cpu:package-0", "dram:package-0"]

    tree.advance("cpu:package-0", 10.0)
    tree.advance("dram:package-0", 2.5)
    tree.advance("intel-rapl:0:0", 6.0)  # core: inside the package
    tree.advance("intel-rapl:0:1", 1.0)  # uncore: inside the package
    tree.advance("cpu:psys", 30.0)  # platform: overlaps the package
    assert meter.read_energy_j() == {"cpu:package-0": 10.0, "dram:package-0": 2.5}


def test_domain_records_carry_provenance(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap.laptop(tmp_path)
    package, dram = rapl(tree.root).domains()
    assert (package.component, package.method, package.extent, package.quality) == (
        "cpu",
        "rapl",
        "machine",
        "measured",
    )
    assert dram.component == "dram"
    assert package.note == str(tree.root / "intel-rapl:0")
    assert dram.note == str(tree.root / "intel-rapl:0:2")


def test_prefer_psys_uses_psys_alone(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap.laptop(tmp_path)
    meter = rapl(tree.root, prefer_psys=True)
    assert ids(meter) == ["cpu:psys"]
    tree.advance("cpu:package-0", 10.0)
    tree.advance("cpu:psys", 25.0)
    assert meter.read_energy_j() == {"cpu:psys": 25.0}


def test_prefer_psys_without_psys_falls_back_to_packages(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap.two_socket(tmp_path)
    meter = rapl(tree.root, prefer_psys=True)
    assert ids(meter) == ["cpu:package-0", "dram:package-0", "cpu:package-1", "dram:package-1"]
    assert "psys preferred but absent" in meter.zones_summary()[-1]


def test_psys_subzone_is_classified_by_name_not_position(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap(tmp_path)
    tree.add_package(0, dram=True)
    tree.add_zone("intel-rapl:0:3", "psys")  # TPMI parts put the platform domain in the package
    assert ids(rapl(tree.root)) == ["cpu:package-0", "dram:package-0"]
    assert ids(rapl(tree.root, prefer_psys=True)) == ["cpu:psys"]


def test_two_socket_server_counts_intel_rapl_1_as_package_1(tmp_path: Path, rapl: OpenRapl) -> None:
    # PowerJoular hard-codes intel-rapl:1 as psys and so drops socket 1 on servers.
    tree = FakePowercap.two_socket(tmp_path)
    meter = rapl(tree.root)
    for domain, joules in [
        ("cpu:package-0", 100.0),
        ("cpu:package-1", 80.0),
        ("dram:package-0", 12.0),
        ("dram:package-1", 9.0),
    ]:
        tree.advance(domain, joules)
    assert meter.read_energy_j() == {
        "cpu:package-0": 100.0,
        "dram:package-0": 12.0,
        "cpu:package-1": 80.0,
        "dram:package-1": 9.0,
    }


def test_multi_die_package_names(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap(tmp_path)
    tree.add_package(0, die=0)
    tree.add_package(0, die=1)
    assert ids(rapl(tree.root)) == ["cpu:package-0-die-0", "cpu:package-0-die-1"]


def test_amd_ignores_the_single_core_zone(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap.amd(tmp_path, sockets=2)
    meter = rapl(tree.root)
    assert ids(meter) == ["cpu:package-0", "cpu:package-1"]
    tree.advance("intel-rapl:0:0", 3.0)
    tree.advance("cpu:package-0", 40.0)
    assert meter.read_energy_j() == {"cpu:package-0": 40.0, "cpu:package-1": 0.0}


def test_mmio_duplicate_is_dropped_but_a_unique_mmio_zone_is_kept(
    tmp_path: Path, rapl: OpenRapl
) -> None:
    tree = FakePowercap(tmp_path)
    tree.add_package(0, dram=True)
    tree.add_zone("intel-rapl-mmio:0", "package-0")
    meter = rapl(tree.root)
    assert ids(meter) == ["cpu:package-0", "dram:package-0"]
    tree.advance("intel-rapl-mmio:0", 50.0)
    tree.advance("intel-rapl:0", 20.0)
    assert meter.read_energy_j()["cpu:package-0"] == 20.0
    assert any("intel-rapl-mmio:0 package-0: not used" in line for line in meter.zones_summary())

    only_mmio = FakePowercap(tmp_path / "mmio-only")
    only_mmio.add_zone("intel-rapl-mmio:0", "package-0")
    assert ids(rapl(only_mmio.root)) == ["cpu:package-0"]


def test_hexadecimal_zone_ids(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap(tmp_path)
    tree.add_zone("intel-rapl:0", "package-0")
    for child in range(10):
        tree.add_zone(f"intel-rapl:0:{child:x}", "core" if child == 0 else f"unknown-{child}")
    tree.add_zone("intel-rapl:0:a", "dram")
    meter = rapl(tree.root)
    assert ids(meter) == ["cpu:package-0", "dram:package-0"]
    tree.advance("intel-rapl:0:a", 4.0)
    assert meter.read_energy_j()["dram:package-0"] == 4.0
    # sorted numerically (0:9 before 0:a), not as text
    assert [z.zone_id for z in find_zones(tree.root)][-2:] == ["intel-rapl:0:9", "intel-rapl:0:a"]


def test_nested_device_tree_without_class_links(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap.laptop(tmp_path)
    meter = rapl(tree.devices)  # e.g. a bind-mounted /sys/devices/virtual/powercap
    assert ids(meter) == ["cpu:package-0", "dram:package-0"]
    tree.advance("cpu:package-0", 1.5)
    assert meter.read_energy_j()["cpu:package-0"] == 1.5


def test_zones_are_found_once_through_links_and_nesting(tmp_path: Path) -> None:
    tree = FakePowercap.laptop(tmp_path)
    zone_ids = [zone.zone_id for zone in find_zones(tree.root)]
    assert zone_ids == [
        "intel-rapl:0",
        "intel-rapl:0:0",
        "intel-rapl:0:1",
        "intel-rapl:0:2",
        "intel-rapl:1",
    ]


def test_counter_that_wraps_during_a_run_is_exact(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap(tmp_path)
    tree.add_package(0, energy_uj=INTEL_RANGE_UJ - 1_500_000)  # 1.5 J before the wrap
    meter = rapl(tree.root)
    tree.advance_uj("cpu:package-0", 1_000_000)
    assert meter.read_energy_j() == {"cpu:package-0": 1.0}
    tree.advance_uj("cpu:package-0", 2_250_000)  # crosses the top
    assert tree.energy_uj("cpu:package-0") == 1_750_000
    assert meter.read_energy_j() == {"cpu:package-0": 3.25}
    assert meter.wraps == 1


def test_decrease_without_a_known_range_is_a_dropped_interval(
    tmp_path: Path, rapl: OpenRapl
) -> None:
    tree = FakePowercap(tmp_path)
    zone_id = tree.add_package(0, energy_uj=5_000_000)
    (tree.zones[zone_id].path / "max_energy_range_uj").unlink()
    meter = rapl(tree.root)
    tree.set("cpu:package-0", 1_000_000)  # went down, and no modulus to explain it
    assert meter.read_energy_j() == {"cpu:package-0": 0.0}
    tree.advance("cpu:package-0", 2.0)
    assert meter.read_energy_j() == {"cpu:package-0": 2.0}


def test_unreadable_counter_names_the_cause_and_the_fixes(tmp_path: Path) -> None:
    tree = FakePowercap.laptop(tmp_path)
    tree.deny("dram:package-0")
    with pytest.raises(MeterUnavailable) as caught:
        RaplMeter(tree.root, read_counter=tree.read_counter)
    err = caught.value
    assert err.meter == "rapl"
    assert "intel-rapl:0:2/energy_uj" in err.reason
    assert "root" in err.reason and "5.10" in err.reason and "CVE-2020-8694" in err.reason
    assert "udev rule" in err.fix and "chmod -R g+r" in err.fix
    assert "udev" in err.fix and "chmod" in err.fix


def test_permission_error_from_the_default_reader_is_translated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = FakePowercap.laptop(tmp_path)
    real_open = os.open

    def deny_counters(path: os.PathLike[str] | str, flags: int, *args: int) -> int:
        if str(path).endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny_counters)
    with pytest.raises(MeterUnavailable, match="CVE-2020-8694"):
        RaplMeter(tree.root)


def test_missing_tree_and_empty_tree_are_unavailable(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable, match="no powercap tree"):
        RaplMeter(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MeterUnavailable, match="no intel-rapl zone") as caught:
        RaplMeter(tmp_path / "empty")
    assert caught.value.meter == "rapl"


def test_a_read_that_fails_at_run_time_is_a_gap_not_a_crash(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap.two_socket(tmp_path)
    failing = {"on": False}

    def flaky(path: Path) -> int:
        if failing["on"] and path.parent.name == "intel-rapl:1":
            raise OSError(5, "Input/output error")
        return tree.read_counter(path)

    meter = rapl(tree.root, read_counter=flaky)
    tree.advance("cpu:package-1", 5.0)
    tree.advance("cpu:package-0", 1.0)
    failing["on"] = True
    energy = meter.read_energy_j()
    assert "cpu:package-1" not in energy
    assert energy["cpu:package-0"] == 1.0
    assert meter.gaps == 1
    failing["on"] = False
    tree.advance("cpu:package-1", 2.0)
    # a counter loses nothing across the gap: the next delta covers it
    assert meter.read_energy_j()["cpu:package-1"] == 7.0


def test_kept_descriptors_see_in_place_updates_and_are_closed(
    tmp_path: Path, rapl: OpenRapl
) -> None:
    tree = FakePowercap.laptop(tmp_path)
    fds_before = len(os.listdir("/proc/self/fd"))
    meter = rapl(tree.root)
    assert len(os.listdir("/proc/self/fd")) == fds_before + 2
    for step in range(1, 4):
        tree.advance("cpu:package-0", 1.0)
        assert meter.read_energy_j()["cpu:package-0"] == float(step)
    meter.close()
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert meter.read_energy_j() == {}
    assert meter.gaps == 2


def test_background_writer_at_constant_power(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap.laptop(tmp_path)
    meter = rapl(tree.root)
    readings: list[float] = []
    with tree.drive("cpu:package-0", watts=50.0, period_s=0.001) as added:
        deadline = threading.Event()
        while not deadline.wait(0.002) and len(readings) < 40:
            readings.append(meter.read_energy_j()["cpu:package-0"])
    final = meter.read_energy_j()["cpu:package-0"]
    assert readings == sorted(readings)  # never a torn or stale value going backwards
    assert final == pytest.approx(added(), abs=1e-9)
    assert final > 0
    assert meter.gaps == 0


def test_zones_summary_explains_every_zone(tmp_path: Path, rapl: OpenRapl) -> None:
    tree = FakePowercap.laptop(tmp_path)
    summary = rapl(tree.root).zones_summary()
    assert summary == [
        "intel-rapl:0 package-0: reported as cpu:package-0",
        "intel-rapl:0:0 core: not used, inside its package (would be counted twice)",
        "intel-rapl:0:1 uncore: not used, inside its package (would be counted twice)",
        "intel-rapl:0:2 dram: reported as dram:package-0",
        "intel-rapl:1 psys: not used, platform total; overlaps the packages (prefer_psys=False)",
    ]


def test_diagnostics_say_per_domain_what_happened_and_what_was_lost(
    tmp_path: Path, rapl: OpenRapl
) -> None:
    tree = FakePowercap(tmp_path)
    tree.add_package(0, dram=True, energy_uj=INTEL_RANGE_UJ - 1_000_000)
    second = tree.add_package(1, energy_uj=5_000_000)
    (tree.zones[second].path / "max_energy_range_uj").unlink()
    failing: set[str] = set()

    def flaky(path: Path) -> int:
        if path.parent.name in failing:
            raise OSError(5, "Input/output error")
        return tree.read_counter(path)

    meter = rapl(tree.root, read_counter=flaky)
    meter.read_energy_j()
    assert meter.diagnostics() == []  # nothing happened, nothing said
    for _ in range(2):  # 0.6 of the range each time, from 1 J below the top: two wraps
        tree.advance_uj("cpu:package-0", INTEL_RANGE_UJ * 6 // 10)
        meter.read_energy_j()
    tree.set("cpu:package-1", 1_000_000)  # down, with no range to explain it
    failing.add("intel-rapl:0:2")
    meter.read_energy_j()
    assert meter.diagnostics() == [
        "cpu:package-0: the energy counter wrapped around 2 times; each wrap was accounted "
        "for, so no energy was lost",
        "dram:package-0: 1 reading failed; the next reading of the counter covered the missed "
        "time, so no energy was lost",
        "cpu:package-1: the energy counter went backwards once (intel-rapl:1 has no "
        "max_energy_range_uj to unwrap it by); the energy of 1 sampling interval was not "
        "counted",
    ]
    assert (meter.wraps, meter.gaps) == (2, 1)


@settings(max_examples=60, deadline=None)
@given(
    range_uj=st.integers(min_value=1_000, max_value=2**40),
    start_fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
    steps=st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), max_size=25),
)
def test_wrapped_deltas_integrate_exactly(
    range_uj: int, start_fraction: float, steps: list[float]
) -> None:
    increments = [int(fraction * range_uj) for fraction in steps]  # each below one range
    with tempfile.TemporaryDirectory() as tmp:
        tree = FakePowercap(Path(tmp))
        tree.add_package(0, energy_uj=int(start_fraction * range_uj), max_energy_range_uj=range_uj)
        meter = RaplMeter(tree.root)
        for increment in increments:
            tree.advance_uj("cpu:package-0", increment)
            meter.read_energy_j()
        assert meter.read_energy_j() == {"cpu:package-0": sum(increments) / 1e6}
        meter.close()


@given(
    range_uj=st.integers(min_value=1, max_value=2**53 // 4096),
    start=st.integers(min_value=0),
    increments=st.lists(st.integers(min_value=0), max_size=50),
)
def test_accumulator_property(range_uj: int, start: int, increments: list[int]) -> None:
    increments = [increment % range_uj for increment in increments]
    accumulator = CounterAccumulator(wrap_range=range_uj)
    raw = start % range_uj
    accumulator.update(raw)
    for increment in increments:
        raw = (raw + increment) % range_uj
        accumulator.update(raw)
    assert accumulator.total == sum(increments)
