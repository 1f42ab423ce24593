"""The BMC's DCMI power reading: recorded outputs of real BMCs (tests/data/ipmi, sources in
its README) run through the real subprocess path, as ``ipmi_command`` or as fake ``ipmitool``
and ``ipmi-dcmi`` programs on PATH."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import pytest

from impactlib.errors import MeterUnavailable
from impactlib.footprint import Method
from impactlib.meters.ipmi import IpmiWallMeter, in_band_problem, parse_dcmi_power, shown

DATA = Path(__file__).parent.parent / "data" / "ipmi"
CAT = shutil.which("cat") or "/bin/cat"  # the fakes run with PATH set to their folder only


def cat(name: str) -> str:
    """An ``ipmi_command`` that prints a recorded output."""
    return shlex.join(["cat", str(DATA / name)])


def fake_tool(folder: Path, name: str, stdout: str = "", stderr: str = "", code: int = 0) -> None:
    """An executable ``name`` in ``folder`` printing recorded files, exiting ``code``."""
    folder.mkdir(exist_ok=True)
    lines = ["#!/bin/sh"]
    if stdout:
        lines.append(f"{CAT} {shlex.quote(str(DATA / stdout))}")
    if stderr:
        lines.append(f"{CAT} {shlex.quote(str(DATA / stderr))} >&2")
    lines.append(f"exit {code}")
    tool = folder / name
    tool.write_text("\n".join(lines) + "\n")
    tool.chmod(0o755)


@pytest.mark.parametrize(
    ("name", "watts", "active", "state"),
    [
        ("ipmitool-activated.txt", 215.0, True, "activated"),
        ("ipmitool-same-line.txt", 109.0, True, "activated"),
        ("ipmitool-deactivated.txt", 360.0, False, "deactivated"),
        ("freeipmi-active.txt", 90.0, True, "Active"),
        ("freeipmi-not-available.txt", 0.0, False, "Not Available"),
    ],
)
def test_both_tools_outputs_are_parsed(name: str, watts: float, active: bool, state: str) -> None:
    reading = parse_dcmi_power((DATA / name).read_text())
    assert (reading.watts, reading.active, reading.state) == (watts, active, state)


def test_output_without_a_reading_is_refused() -> None:
    with pytest.raises(ValueError, match="no DCMI power reading"):
        parse_dcmi_power((DATA / "ipmitool-no-dcmi.stderr").read_text())


def test_ipmi_command_is_run_and_read() -> None:
    meter = IpmiWallMeter(cat("ipmitool-activated.txt"))
    reading = meter.read_power()
    assert reading is not None and reading.watts == 215.0
    assert meter.method == Method.IPMI_DCMI and meter.period_s == 5.0
    assert "ipmitool-activated.txt" in meter.note and meter.diagnostics() == []


@pytest.mark.parametrize(
    ("name", "state"),
    [("ipmitool-deactivated.txt", "deactivated"), ("freeipmi-not-available.txt", "Not Available")],
)
def test_a_reading_the_bmc_does_not_stand_by_is_refused(name: str, state: str) -> None:
    """OpenBMC prints a value with 'deactivated': the DCMI state says it measures nothing."""
    with pytest.raises(MeterUnavailable) as caught:
        IpmiWallMeter(cat(name))
    assert f"the BMC's power measurement is not active ('{state}')" in caught.value.reason


def test_ipmitool_is_asked_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tool(tmp_path / "bin", "ipmitool", stdout="ipmitool-same-line.txt")
    fake_tool(tmp_path / "bin", "ipmi-dcmi", stdout="freeipmi-active.txt")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    meter = IpmiWallMeter()
    assert meter.note.endswith("by `ipmitool dcmi power reading`")
    assert meter.read_power() is not None


def test_freeipmi_answers_where_ipmitool_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_tool(tmp_path / "bin", "ipmitool", stderr="ipmitool-no-dcmi.stderr", code=1)
    fake_tool(tmp_path / "bin", "ipmi-dcmi", stdout="freeipmi-active.txt")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    meter = IpmiWallMeter()
    reading = meter.read_power()
    assert reading is not None and reading.watts == 90.0
    assert meter.note.endswith("by `ipmi-dcmi --get-system-power-statistics`")


def test_neither_tool_answering_gives_each_ones_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_tool(tmp_path / "bin", "ipmitool", stderr="ipmitool-no-device.stderr", code=1)
    fake_tool(tmp_path / "bin", "ipmi-dcmi", stderr="freeipmi-no-dcmi.stderr", code=1)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(MeterUnavailable) as caught:
        IpmiWallMeter()
    reason = caught.value.reason
    assert "Could not open device at /dev/ipmi0" in reason
    assert "ipmi_cmd_dcmi_get_power_reading: command invalid or unsupported" in reason
    assert "root" in caught.value.fix and "\n" not in str(caught.value)


def test_a_program_not_installed_is_said() -> None:
    with pytest.raises(MeterUnavailable, match="no-such-ipmitool is not installed"):
        IpmiWallMeter("no-such-ipmitool dcmi power reading")


def test_a_failed_reading_is_a_gap_counted_by_cause(tmp_path: Path) -> None:
    """The BMC stops standing by its reading for a while, then comes back."""
    answer = tmp_path / "answer.txt"
    answer.write_text((DATA / "ipmitool-activated.txt").read_text())
    meter = IpmiWallMeter(shlex.join(["cat", str(answer)]))
    answer.write_text((DATA / "ipmitool-deactivated.txt").read_text())
    assert meter.read_power() is None
    answer.write_text((DATA / "ipmitool-same-line.txt").read_text())
    reading = meter.read_power()
    assert reading is not None and reading.watts == 109.0
    assert meter.diagnostics() == [
        "wall power (IPMI DCMI): 1 reading failed: "
        "the BMC's power measurement is not active ('deactivated')"
    ]


def test_a_bmc_that_does_not_answer_in_time_is_refused() -> None:
    command = shlex.join([sys.executable, "-c", "import time; time.sleep(5)"])
    with pytest.raises(MeterUnavailable, match=r"no answer within 0\.2 s"):
        IpmiWallMeter(command, timeout_s=0.2)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["ipmitool", "-I", "lanplus", "-P", "s3cret", "dcmi"],
            "ipmitool -I lanplus -P '***' dcmi",
        ),
        (["ipmitool", "-Ps3cret", "dcmi"], "ipmitool '-P***' dcmi"),
        (["ipmi-dcmi", "--password=s3cret"], "ipmi-dcmi '--password=***'"),
        (["ipmi-dcmi", "--password", "s3cret"], "ipmi-dcmi --password '***'"),
        (["ipmi-dcmi", "-p", "s3cret", "-k", "kg"], "ipmi-dcmi -p '***' -k '***'"),
        (["ipmitool", "-p", "623", "-y", "0a0b"], "ipmitool -p 623 -y '***'"),
    ],
)
def test_a_command_shown_in_a_record_never_holds_its_password(
    argv: list[str], expected: str
) -> None:
    assert shown(argv) == expected


def test_in_band_needs_a_tool_and_the_bmc_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("impactlib.meters.ipmi._SBIN", ())
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    device = tmp_path / "ipmi0"
    assert "neither ipmitool nor" in (in_band_problem([str(device)]) or "")
    fake_tool(tmp_path / "bin", "ipmitool", stdout="ipmitool-activated.txt")
    assert f"no BMC device ({device}" in (in_band_problem([str(device)]) or "")
    device.write_text("")
    assert in_band_problem([str(device)]) is None
