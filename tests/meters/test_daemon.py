"""The tracker's side of the daemon: a meter that asks at checkpoints, chosen by itself where
RAPL is unreadable and the socket answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonhost import InProcess, daemon_config, in_process, public_dir
from powercap import FakePowercap

import impactlib
import impactlib.meters as meters_module
from impactlib.config import load_config
from impactlib.errors import MeterUnavailable
from impactlib.meters import MeterSettings, open_meters
from impactlib.meters.daemon import INSTALL_FIX, DaemonMeter
from impactlib.meters.model import CpuModelMeter
from impactlib.meters.rapl import RaplMeter

CPU = "cpu:package-0"


@pytest.fixture
def fake(tmp_path: Path) -> FakePowercap:
    tree = FakePowercap(tmp_path / "sys")
    tree.add_package(0)
    return tree


@pytest.fixture
def served(fake: FakePowercap) -> Iterator[InProcess]:
    with public_dir() as public, in_process(daemon_config(fake.root, public / "d.sock")) as d:
        yield d


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


@pytest.fixture
def rapl_denied(fake: FakePowercap, monkeypatch: pytest.MonkeyPatch) -> None:
    """RAPL is there but root-only (injected: CI runs as root, for whom chmod changes nothing);
    the daemon, started before, reads it."""
    fake.deny(CPU)

    def open_denied(settings: MeterSettings) -> RaplMeter:
        return RaplMeter(settings.powercap_root, read_counter=fake.read_counter)

    monkeypatch.setattr(meters_module, "_open_rapl", open_denied)


def test_the_meter_reports_the_trees_attributed_energy(
    served: InProcess, fake: FakePowercap
) -> None:
    meter = DaemonMeter(served.socket)
    (domain,) = meter.domains()
    assert (domain.id, domain.method, domain.quality) == (CPU, "daemon", "attributed")
    assert served.socket in domain.note and "measured by rapl" in domain.note
    assert meter.read_energy_j() == {CPU: 0.0}
    fake.advance(CPU, 10.0)
    burn(0.2)
    served.daemon.tick()
    time.sleep(0.06)  # past the reuse window of the previous answer
    energy = meter.read_energy_j()[CPU]
    assert 0.0 < energy <= 10.0
    assert meter.diagnostics() == []


def test_no_daemon_or_a_refusal_is_unavailable_with_the_fix(
    tmp_path: Path, served: InProcess
) -> None:
    with pytest.raises(MeterUnavailable) as missing:
        DaemonMeter(str(tmp_path / "nothing.sock"))
    assert missing.value.fix == INSTALL_FIX and "no daemon socket" in missing.value.reason
    with pytest.raises(MeterUnavailable, match="refused: no process 4194999"):
        DaemonMeter(served.socket, pid=4194999)


def test_a_daemon_that_goes_away_is_a_gap_then_a_reset(
    fake: FakePowercap, served: InProcess
) -> None:
    meter = DaemonMeter(served.socket)
    served.daemon.tick()
    time.sleep(0.06)
    first = meter.read_energy_j()
    served.api.shutdown()
    served.api.server_close()  # the socket file goes: questions fail
    time.sleep(0.06)
    assert meter.read_energy_j() == {}
    assert any("failed" in line for line in meter.diagnostics())
    assert first.keys() == {CPU}


def test_open_meters_uses_the_daemon_where_rapl_is_unreadable(
    served: InProcess, fake: FakePowercap, rapl_denied: None
) -> None:
    config = load_config({"powercap_root": str(fake.root), "daemon_socket": served.socket})
    found = open_meters(MeterSettings.of(config))
    try:
        assert [m.name for m in found.meters if m.name in ("daemon", "cpu-model")] == ["daemon"]
        assert found.notes == []
        assert found.tick_interval_s(1.0, 10.0) == 10.0  # wakes only at checkpoints
        assert not found.machine_cpu_each_tick()
    finally:
        found.close()


def test_without_a_daemon_the_model_says_how_to_get_measurements(
    tmp_path: Path, fake: FakePowercap, rapl_denied: None
) -> None:
    config = load_config({"powercap_root": str(fake.root), "daemon_socket": str(tmp_path / "x")})
    found = open_meters(MeterSettings.of(config))
    try:
        assert any(isinstance(m, CpuModelMeter) for m in found.meters)
        assert [e.meter for e in found.unavailable][:2] == ["rapl", "daemon"]
        assert "readable by root only" in found.notes[0]  # the note names RAPL's problem
        assert found.tick_interval_s(1.0, 10.0) == 1.0
    finally:
        found.close()


def test_no_daemon_is_asked_for_the_machine_scope_or_without_rapl_and_socket(
    tmp_path: Path, fake: FakePowercap, served: InProcess, rapl_denied: None
) -> None:
    machine = load_config(
        {"powercap_root": str(fake.root), "daemon_socket": served.socket, "scope": "machine"}
    )
    no_rapl = load_config(
        {"powercap_root": str(tmp_path / "none"), "daemon_socket": str(tmp_path / "no.sock")}
    )
    for config in (machine, no_rapl):
        found = open_meters(MeterSettings.of(config))
        try:
            assert "daemon" not in [m.name for m in found.meters]
            assert "daemon" not in [e.meter for e in found.unavailable]
        finally:
            found.close()


def test_without_rapl_the_daemons_socket_serves_as_in_a_container(
    tmp_path: Path, served: InProcess
) -> None:
    """A container sees no powercap tree (Docker masks it) but the socket bound into it:
    the daemon serves the CPU, asked by the connection's credentials (``self``)."""
    config = load_config({"powercap_root": str(tmp_path / "none"), "daemon_socket": served.socket})
    found = open_meters(MeterSettings.of(config))
    try:
        assert [m.name for m in found.meters if m.name in ("daemon", "cpu-model")] == ["daemon"]
        assert found.notes == []
    finally:
        found.close()


@pytest.mark.parametrize("powercap", ["absent", "masked"])
def test_neither_rapl_nor_a_daemon_says_how_to_get_either_in_a_container(
    tmp_path: Path, powercap: str
) -> None:
    """No powercap tree, or one emptied as a runtime masks it: the note says how to get
    measurements, the daemon's socket for a container."""
    root = tmp_path / "powercap"
    if powercap == "masked":
        root.mkdir()
    config = load_config({"powercap_root": str(root), "daemon_socket": str(tmp_path / "no.sock")})
    found = open_meters(MeterSettings.of(config))
    try:
        (note,) = [n for n in found.notes if n.startswith("CPU energy is estimated")]
        assert "impactlib serve" in note and "-v /run/impactlib:/run/impactlib:ro" in note
        assert "docs/containers.md" in note
    finally:
        found.close()


def test_a_tracker_records_daemon_energy_as_attributed(
    served: InProcess, fake: FakePowercap, rapl_denied: None
) -> None:
    tracker = impactlib.init(
        powercap_root=str(fake.root),
        daemon_socket=served.socket,
        country="FR",
        intensity_source="static",
    )
    tracker.start()
    fake.advance(CPU, 20.0)
    burn(0.3)
    footprint = tracker.stop()
    assert footprint is not None
    (cpu,) = [c for c in footprint.components if c.component == "cpu"]
    assert (cpu.method, cpu.quality, cpu.extent) == ("daemon", "attributed", "machine")
    assert footprint.charged_to == "tree"
    assert 0.0 < cpu.energy_j <= 20.0
    assert cpu.energy_j == pytest.approx(cpu.domain_j)
    # One truth: the floor the record names is the one the daemon split with, as its note
    # and the daemon's /v1/health say, not the tracker's own (which split nothing here).
    floor = served.daemon.attributor.floor(CPU)
    assert (cpu.idle_floor_w, cpu.idle_floor_source) == (floor.watts, floor.source)
    assert f"idle floor {floor.watts:.1f} W ({floor.source})" in cpu.note


def test_a_machine_tracker_after_a_served_tree_tracker_is_not_served(
    served: InProcess, fake: FakePowercap, rapl_denied: None
) -> None:
    """The daemon gives the machine's energy to nobody: a ``scope="machine"`` tracker in the
    same process as a served tree tracker opens its own meters, never the daemon's."""
    settings = {
        "powercap_root": str(fake.root),
        "daemon_socket": served.socket,
        "country": "FR",
        "intensity_source": "static",
    }
    with impactlib.track(**settings) as tree:
        fake.advance(CPU, 5.0)
        burn(0.1)
        with impactlib.track(scope="machine", **settings) as machine:
            burn(0.1)
    assert tree.footprint is not None and machine.footprint is not None
    assert {c.method for c in tree.footprint.components if c.component == "cpu"} == {"daemon"}
    machine_cpu = [c for c in machine.footprint.components if c.component == "cpu"]
    assert machine_cpu and all(c.method != "daemon" for c in machine_cpu)
