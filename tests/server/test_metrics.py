"""The Prometheus exporter: parses with prometheus-client's own parser, per-user and per-job
series, the remainder and the floor, never a PID label."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from daemonhost import daemon_config
from fakeproc import FakeProc
from powercap import FakePowercap
from prometheus_client.parser import text_string_to_metric_families

from impactlib.errors import UsageError
from impactlib.server.daemon import Daemon
from impactlib.server.metrics import DaemonCollector, parse_address, start_exporter

CPU = "cpu:package-0"


def _process(fake: FakeProc, uid: int, cgroup: str) -> int:
    pid = fake.spawn(1).pid
    (fake.root / str(pid) / "status").write_text(f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
    (fake.root / str(pid) / "cgroup").write_text(cgroup)
    return pid


@pytest.fixture
def daemon(tmp_path: Path) -> Daemon:
    """Two users, one of them in SLURM job 42, on a scripted machine of 4 CPUs."""
    proc = FakeProc(tmp_path / "proc", ncpus=4)
    powercap = FakePowercap(tmp_path / "sys")
    powercap.add_package(0)
    root = _process(proc, 0, "0::/init.scope\n")  # uid 0 has a name everywhere: root
    job = _process(proc, 123456, "0::/system.slice/slurmstepd.scope/job_42/step_0/user/task_0\n")
    d = Daemon(daemon_config(powercap.root, tmp_path / "d.sock", procfs_root=str(proc.root)))
    d.tick()
    for _ in range(3):
        proc.advance(1.0, {root: 0.5, job: 2.0}, other_busy_s=0.5)
        powercap.advance(CPU, 10.0 + 15.0 * 3.0)
        d.tick()
    return d


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def scrape(daemon: Daemon) -> dict[str, list[tuple[dict[str, str], float]]]:
    """One scrape of the exporter over HTTP, parsed by prometheus-client's own parser."""
    server, url = start_exporter(daemon, "127.0.0.1:0")
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
    finally:
        server.shutdown()
    return families(text)


def test_metrics_parse_and_carry_users_jobs_remainder_and_floor(daemon: Daemon) -> None:
    metrics = scrape(daemon)
    assert {
        (labels["domain"], labels["quality"])
        for labels, _ in metrics["impactlib_domain_energy_joules_total"]
    } == {
        (CPU, "measured"),
        # no DRAM zone here: memory is modelled and split by resident memory
        ("memory:model", "estimated"),
    }
    cpu = {name: [s for s in samples if s[0]["domain"] == CPU] for name, samples in metrics.items()}
    users = {s[0]["user"]: s[1] for s in cpu["impactlib_energy_joules_total"]}
    assert set(users) == {"root", "123456"}  # a uid without a name is shown by number
    jobs = cpu["impactlib_job_energy_joules_total"]
    assert [(labels["job"], labels["domain"]) for labels, _ in jobs] == [("42", CPU)]
    assert jobs[0][1] == pytest.approx(users["123456"])
    (rest,) = [v for labels, v in cpu["impactlib_unattributed_energy_joules_total"]]
    (measured,) = [v for labels, v in cpu["impactlib_domain_energy_joules_total"]]
    assert sum(users.values()) + rest == pytest.approx(measured, rel=1e-9)
    assert measured == pytest.approx(165.0)
    (floor,) = cpu["impactlib_idle_floor_watts"]
    assert floor[0] == {"domain": CPU, "source": "observed"} and floor[1] >= 0.0
    assert not any("pid" in labels for samples in metrics.values() for labels, _ in samples)


@pytest.mark.parametrize("address", ["9877", "localhost", ":9877", "127.0.0.1:http", "h:70000"])
def test_a_bad_metrics_address_is_one_line(address: str) -> None:
    with pytest.raises(UsageError, match="use HOST:PORT"):
        parse_address(address)


def test_ipv6_addresses_are_accepted() -> None:
    assert parse_address("[::1]:9877") == ("::1", 9877)


def test_the_grafana_dashboard_queries_only_metrics_the_exporter_serves(daemon: Daemon) -> None:
    dashboard = Path(__file__).parents[2] / "deploy" / "grafana" / "impactlib.json"
    body = json.loads(dashboard.read_text())
    queries = [t["expr"] for p in body["panels"] for t in p["targets"]]
    queries += [v["definition"] for v in body["templating"]["list"] if "definition" in v]
    used = {name for q in queries for name in re.findall(r"impactlib_[a-z_]+", q)}
    served = {family.name for family in DaemonCollector(daemon).collect()}
    served |= {f"{name}_total" for name in served}
    assert used and used <= served, used - served


def test_a_modelled_cpu_is_never_exported_as_measured(tmp_path: Path) -> None:
    """A daemon on a machine without readable RAPL models the CPU (``cpu:model``): its energy
    is exported with ``quality="estimated"``, no series calls it measured, and its idle floor
    is the model's, as a tracker's record names the same floor."""
    proc = FakeProc(tmp_path / "proc", ncpus=4)
    user = _process(proc, 0, "0::/init.scope\n")
    d = Daemon(
        daemon_config(tmp_path / "no-powercap", tmp_path / "d.sock", procfs_root=str(proc.root))
    )
    d.tick()
    for _ in range(2):
        proc.advance(1.0, {user: 1.0})
        d.tick()
    metrics = scrape(d)
    whole = {
        labels["domain"]: labels["quality"]
        for labels, _ in metrics["impactlib_domain_energy_joules_total"]
    }
    assert whole == {"cpu:model": "estimated", "memory:model": "estimated"}
    assert not any(name.startswith("impactlib_measured") for name in metrics)
    floors = {
        labels["domain"]: labels["source"] for labels, _ in metrics["impactlib_idle_floor_watts"]
    }
    assert floors == {"cpu:model": "model", "memory:model": "model"}


DOCKER_ID = "3f1c2e9b8a7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c"


def _containers_daemon(tmp_path: Path, metrics_containers: bool) -> Daemon:
    """A Docker container (cgroup v2, systemd driver) and a login session side by side."""
    proc = FakeProc(tmp_path / "proc", ncpus=4)
    powercap = FakePowercap(tmp_path / "sys")
    powercap.add_package(0)
    boxed = _process(proc, 123456, f"0::/system.slice/docker-{DOCKER_ID}.scope\n")
    login = _process(proc, 123456, "0::/user.slice/user-1000.slice/session-3.scope\n")
    config = daemon_config(
        powercap.root,
        tmp_path / "d.sock",
        procfs_root=str(proc.root),
        metrics_containers=metrics_containers,
    )
    d = Daemon(config)
    d.tick()
    for _ in range(3):
        proc.advance(1.0, {boxed: 1.0, login: 1.0})
        powercap.advance(CPU, 10.0 + 15.0 * 2.0)
        d.tick()
    return d


def test_a_series_per_container_only_when_the_admin_turns_it_on(tmp_path: Path) -> None:
    """Containers are counted either way (the store's minutes, /v1/machine); /metrics has a
    series per container only with ``metrics_containers``: each container would otherwise
    be a new series forever."""
    off = _containers_daemon(tmp_path / "off", metrics_containers=False)
    assert "impactlib_container_energy_joules_total" not in scrape(off)
    assert set(off.attributor.containers) == {f"docker:{DOCKER_ID}"}
    on = _containers_daemon(tmp_path / "on", metrics_containers=True)
    metrics = scrape(on)
    (series,) = [
        (labels, value)
        for labels, value in metrics["impactlib_container_energy_joules_total"]
        if labels["domain"] == CPU
    ]
    assert series[0] == {"domain": CPU, "runtime": "docker", "container": DOCKER_ID}
    users = {
        s[0]["user"]: s[1]
        for s in metrics["impactlib_energy_joules_total"]
        if s[0]["domain"] == CPU
    }
    # the same user's two trees used the same CPU time: the container holds half of it
    assert series[1] == pytest.approx(users["123456"] / 2, rel=1e-6)
