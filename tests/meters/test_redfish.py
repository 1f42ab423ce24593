"""Redfish wall power against a real HTTP service on 127.0.0.1 answering in the shapes of
DMTF's public-rackmount1 mockup: the three power shapes, the chassis that is the server, the
credentials file's checks, and a password that never shows."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from redfishserver import (
    PASSWORD,
    USERNAME,
    RedfishServer,
    add,
    add_chassis,
    credentials_file,
    edit,
    mockup,
    self_signed,
)

from impactlib.errors import MeterUnavailable
from impactlib.footprint import Method
from impactlib.meters.redfish import RedfishWallMeter, read_credentials
from impactlib.meters.wall import WallSampler

CHASSIS = "/redfish/v1/Chassis/1U"


def drop(*keys: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        for key in keys:
            doc.pop(key)

    return change


def read(meter: RedfishWallMeter) -> float:
    reading = meter.read_power()
    assert reading is not None
    return reading.watts


def test_environment_metrics_is_read_first(tmp_path: Path) -> None:
    root = mockup(tmp_path)
    with RedfishServer(root) as server:
        meter = RedfishWallMeter(server.url, str(credentials_file(tmp_path)))
        try:
            assert read(meter) == 374.0  # EnvironmentMetrics PowerWatts.Reading
            edit(
                root, f"{CHASSIS}/EnvironmentMetrics", lambda d: d["PowerWatts"].update(Reading=401)
            )
            assert read(meter) == 401.0
        finally:
            meter.close()
    assert meter.method == Method.REDFISH and meter.period_s == 5.0
    assert meter.note == (
        f"BMC power reading (Redfish) {server.url}{CHASSIS}/EnvironmentMetrics "
        "(EnvironmentMetrics PowerWatts)"
    )


def test_the_deprecated_power_resource_where_there_is_no_environment_metrics(
    tmp_path: Path,
) -> None:
    root = mockup(tmp_path)
    edit(root, CHASSIS, drop("EnvironmentMetrics"))
    with RedfishServer(root) as server:
        meter = RedfishWallMeter(server.url, str(credentials_file(tmp_path)))
        assert read(meter) == 344.0  # Power PowerControl[0].PowerConsumedWatts
        meter.close()
    assert "Power PowerControl PowerConsumedWatts" in meter.note


def test_power_subsystem_sums_the_present_supplies_input(tmp_path: Path) -> None:
    root = mockup(tmp_path)
    edit(root, CHASSIS, drop("EnvironmentMetrics", "Power", "Power@Redfish.Deprecated"))
    bay2 = f"{CHASSIS}/PowerSubsystem/PowerSupplies/Bay2"
    with RedfishServer(root) as server:
        meter = RedfishWallMeter(server.url, str(credentials_file(tmp_path)))
        assert read(meter) == 937.4  # Bay1's InputPowerWatts; Bay2 is Absent
        meter.close()
        # A second supply plugged in: the chassis draws through both.
        edit(root, bay2, lambda d: d.update(Status={"State": "Enabled"}))
        edit(root, bay2, lambda d: d.update(Metrics={"@odata.id": f"{bay2}/Metrics"}))
        add(root, f"{bay2}/Metrics", {"InputPowerWatts": {"Reading": 100.0}})
        meter = RedfishWallMeter(server.url, str(credentials_file(tmp_path)))
        assert read(meter) == pytest.approx(1037.4)
        meter.close()
    assert "2 power supplies summed" in meter.note


def test_a_chassis_without_any_power_reading_is_refused(tmp_path: Path) -> None:
    root = mockup(tmp_path)
    edit(root, CHASSIS, drop("EnvironmentMetrics", "Power", "PowerSubsystem"))
    with RedfishServer(root) as server, pytest.raises(MeterUnavailable) as caught:
        RedfishWallMeter(server.url, str(credentials_file(tmp_path)))
    assert f"chassis {CHASSIS} gives no power reading" in caught.value.reason
    assert "no EnvironmentMetrics link" in caught.value.reason


def test_a_chassis_url_is_read_as_given(tmp_path: Path) -> None:
    root = mockup(tmp_path)
    with RedfishServer(root) as server:
        meter = RedfishWallMeter(server.url + CHASSIS, str(credentials_file(tmp_path)))
        assert read(meter) == 374.0
        meter.close()
    assert "/redfish/v1/Chassis" not in server.requests  # no discovery needed


def test_a_gpu_baseboard_chassis_is_never_taken_for_the_server(tmp_path: Path) -> None:
    """HGX-style BMCs list the GPU baseboard as a chassis with its own power reading."""
    root = mockup(tmp_path)
    gpu = "/redfish/v1/Chassis/HGX_GPU_Baseboard"
    add_chassis(
        root,
        gpu,
        "Module",
        first=True,
        Id="HGX_GPU_Baseboard",
        EnvironmentMetrics={"@odata.id": f"{gpu}/EnvironmentMetrics"},
        Links={"ContainedBy": {"@odata.id": CHASSIS}},
    )
    add(root, f"{gpu}/EnvironmentMetrics", {"PowerWatts": {"Reading": 2800.0}})
    with RedfishServer(root) as server:
        meter = RedfishWallMeter(server.url, str(credentials_file(tmp_path)))
        assert read(meter) == 374.0
        meter.close()


def test_two_servers_behind_one_service_are_not_guessed_between(tmp_path: Path) -> None:
    root = mockup(tmp_path)
    other = "/redfish/v1/Chassis/2U"
    add_chassis(
        root,
        other,
        "RackMount",
        first=False,
        Links={"ComputerSystems": [{"@odata.id": "/redfish/v1/Systems/2"}]},
    )
    with RedfishServer(root) as server, pytest.raises(MeterUnavailable) as caught:
        RedfishWallMeter(server.url, str(credentials_file(tmp_path)))
    assert f"({CHASSIS}, {other})" in caught.value.reason
    assert caught.value.fix.endswith(f"{server.url}{CHASSIS}")


def test_failed_requests_are_gaps_the_sampler_bridges(tmp_path: Path) -> None:
    root = mockup(tmp_path)
    with RedfishServer(root) as server:
        meter = RedfishWallMeter(server.url, str(credentials_file(tmp_path)))
        sampler = WallSampler(meter)
        assert sampler.poll() is not None
        server.fail_status["EnvironmentMetrics"] = 503
        assert sampler.poll() is None
        server.fail_status.clear()
        assert sampler.poll() is not None
        sampler.close()
    assert sampler.readings == 2 and sampler.failed == 1
    assert (
        f"wall power (Redfish {server.url}): 1 reading failed: HTTP 503 for "
        f"{CHASSIS}/EnvironmentMetrics"
    ) in sampler.diagnostics()


@pytest.mark.parametrize("given", ["none", "wrong"])
def test_refused_credentials_say_so_and_never_show_the_password(
    given: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    root = mockup(tmp_path)
    wrong = credentials_file(tmp_path, f'username = "impact-reader"\npassword = "{PASSWORD}x"\n')
    with RedfishServer(root) as server, pytest.raises(MeterUnavailable) as caught:
        RedfishWallMeter(server.url, str(wrong) if given == "wrong" else None)
    assert "the BMC refused the credentials (HTTP 401)" in caught.value.reason
    assert "redfish_credentials" in caught.value.fix
    assert PASSWORD not in str(caught.value) and PASSWORD not in caplog.text


def test_the_password_shows_nowhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    root = mockup(tmp_path)
    with RedfishServer(root) as server:
        meter = RedfishWallMeter(server.url, str(credentials_file(tmp_path)))
        server.fail_status["EnvironmentMetrics"] = 500
        assert meter.read_power() is None
        meter.close()
    shown = [meter.note, repr(meter), repr(vars(meter)), *meter.diagnostics(), caplog.text]
    assert not [text for text in shown if PASSWORD in text]
    assert repr(read_credentials(str(credentials_file(tmp_path)))).count(PASSWORD) == 0


def test_a_credentials_file_open_to_others_is_refused(tmp_path: Path) -> None:
    path = credentials_file(tmp_path, mode=0o640)
    with pytest.raises(MeterUnavailable) as caught:
        read_credentials(str(path))
    assert f"{path} is open to others (mode 0640)" in caught.value.reason
    assert caught.value.fix == f"chmod 600 {path}"
    read_credentials(str(credentials_file(tmp_path, mode=0o400)))  # read-only is fine


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_a_credentials_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    path = credentials_file(tmp_path)
    os.chown(path, 65534, 65534)
    with pytest.raises(MeterUnavailable, match="owned by uid 65534, neither root nor you"):
        read_credentials(str(path))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f'username = "u"\npassword = "{PASSWORD}\n', "is not valid TOML"),
        ('username = "u"\n', "has no username and password"),
        (f'user = "u"\npassword = "{PASSWORD}"\n', "has unknown keys user"),
        (f'username = "u"\npassword = "{PASSWORD}"\nverify = 1\n', "verify must be"),
    ],
)
def test_a_malformed_credentials_file_is_refused_without_quoting_it(
    text: str, problem: str, tmp_path: Path
) -> None:
    path = credentials_file(tmp_path, text)
    with pytest.raises(MeterUnavailable) as caught:
        read_credentials(str(path))
    assert problem in caught.value.reason and PASSWORD not in str(caught.value)


def test_an_unreadable_credentials_file_points_to_the_daemon(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable) as caught:
        read_credentials(str(tmp_path / "missing.toml"))
    assert "cannot be read" in caught.value.reason and "impactlib serve" in caught.value.fix


def test_a_url_that_is_no_http_url_is_refused() -> None:
    with pytest.raises(MeterUnavailable, match="is not an http"):
        RedfishWallMeter("bmc.example")


@pytest.mark.parametrize("verify", ["default", "certificate", "false", "missing"])
def test_a_bmc_with_a_self_signed_certificate(verify: str, tmp_path: Path) -> None:
    """Checked against the system's authorities by default (so refused), trusted when the
    file names its certificate, or with verify = false."""
    tls = self_signed(tmp_path)
    lines = {
        "default": "",
        "certificate": f'verify = "{tls.cert}"\n',
        "false": "verify = false\n",
        "missing": f'verify = "{tmp_path / "missing.pem"}"\n',
    }
    text = f'username = "{USERNAME}"\npassword = "{PASSWORD}"\n{lines[verify]}'
    with RedfishServer(mockup(tmp_path), tls=tls) as server:
        assert server.url.startswith("https://")
        if verify in ("certificate", "false"):
            meter = RedfishWallMeter(server.url, str(credentials_file(tmp_path, text)))
            assert read(meter) == 374.0
            meter.close()
            return
        with pytest.raises(MeterUnavailable) as caught:
            RedfishWallMeter(server.url, str(credentials_file(tmp_path, text)))
    expected = {
        "default": "the BMC's certificate is not trusted",
        "missing": "is no readable certificate file",
    }
    assert expected[verify] in caught.value.reason
    assert "verify" in caught.value.fix
