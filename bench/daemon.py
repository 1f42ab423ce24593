"""What ``impactlib serve`` costs the machine, and what a tracker served by it costs its user.

Usage (as root: the tracker child runs as ``nobody``, for whom RAPL is unreadable):
``python bench/daemon.py [--quick] [--processes N] [--seconds T] [--json PATH]``.

DESIGN §5 sets two targets:

1. **The daemon with 1,000 processes at 1 s: ≤ 2 % of one core.** ``N`` sleeping processes
   are started (``sleep``: they exist, they use no CPU, as most processes of a server), then
   ``impactlib serve --interval 1`` over a fake RAPL package whose counter a thread advances
   at 50 W. After a warm-up, the daemon's CPU time (``utime+stime`` of its ``/proc/<pid>/stat``,
   all threads) over ``T`` seconds, divided by ``T``, is its share of one core. Every tick it
   reads ``/proc/stat`` and every process's kept ``stat``, lists ``/proc``, attributes and
   books the minute aggregates; nothing else runs in it meanwhile (no API question).
2. **A tracker served by the daemon: ≤ 0.002 CPU-s per tracked minute.** A child running as
   ``nobody`` (RAPL really unreadable: the counter is mode 0600) calls ``impactlib.init()``,
   ``start()``, sleeps ``T`` seconds and ``stop()`` s; its CPU time (``getrusage``, all its
   threads) during the sleep, minus that of the same child with no tracker, scaled to 60 s.
   The child checks that its CPU component says ``method="daemon"``. Its sampler then wakes
   at each checkpoint (``save_interval``, 10 s) only: one question to the daemon, one
   ``/proc`` read of its own tree, one SQLite checkpoint. It is measured at each of
   ``--save-intervals`` (default 10 s, the default ``save_interval``, and 60 s), since the
   checkpoint is most of what is left.
3. **The daemon with a wall meter: still ≤ 2 % of one core** (``--wall``). The same daemon
   figure, measured again in the same call with a fake ACPI power meter (an hwmon tree whose
   ``power1_average`` a thread rewrites at 50 W + 60 W, averaging interval 1 s as real ACPI
   meters): the daemon then polls the sensor in its own thread, integrates it, and adds the
   ``platform`` domain (wall minus RAPL and the modelled lines) to every tick's attribution.
   Without ``--wall`` the daemon reads no wall (``wall_power = none``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from impactlib.meters.daemon import ask

NOBODY = 65534
CLK_TCK = os.sysconf("SC_CLK_TCK")
WATTS = 50.0
BEYOND_W = 60.0  # the fake wall sensor: the package's power plus this

_CHILD = """
import json, resource, sys, time
def cpu():
    s = resource.getrusage(resource.RUSAGE_SELF)
    return s.ru_utime + s.ru_stime
sleep_s, track = float(sys.argv[1]), sys.argv[2] == "track"
if track:
    import impactlib
    t = impactlib.init(interval=1)
    t.start()
c0 = cpu()
time.sleep(sleep_s)
c1 = cpu()
method = None
if track:
    fp = t.stop()
    method = [c.method for c in fp.components if c.component == "cpu"]
print(json.dumps({"sleep_cpu_s": c1 - c0, "cpu_method": method}))
"""


def fake_package(root: Path) -> Path:
    """A one-package powercap tree whose counter only root can read (as since Linux 5.10)."""
    zone = root / "class" / "powercap" / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    counter = zone / "energy_uj"
    counter.write_text(f"{0:020d}\n")
    counter.chmod(0o600)
    return root / "class" / "powercap"


def fake_wall(root: Path) -> Path:
    """An ACPI power meter's hwmon tree (``power1_average`` in µW, 1 s averaging)."""
    sensor = root / "hwmon0"
    sensor.mkdir(parents=True)
    (sensor / "name").write_text("power_meter\n")
    (sensor / "power1_average_interval").write_text("1000\n")
    (sensor / "power1_average").write_text(f"{round((WATTS + BEYOND_W) * 1e6):020d}\n")
    return root


def drive(counter: Path, wall: Path, stop: threading.Event) -> None:
    """Advance the counter at WATTS and keep the wall at WATTS + BEYOND_W, in place (the
    daemon keeps both open)."""
    start = time.monotonic()
    fd = os.open(counter, os.O_WRONLY)
    wall_fd = os.open(wall, os.O_WRONLY)
    try:
        while not stop.wait(0.05):
            uj = round(WATTS * (time.monotonic() - start) * 1e6)
            os.pwrite(fd, f"{uj:020d}\n".encode(), 0)
            os.pwrite(wall_fd, f"{round((WATTS + BEYOND_W) * 1e6):020d}\n".encode(), 0)
    finally:
        os.close(fd)
        os.close(wall_fd)


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def user_python() -> list[str]:
    """This Python with its import path, runnable by ``nobody`` (a venv in root's home is not)."""
    import impactlib

    paths = [str(Path(impactlib.__file__).parents[1]), *(p for p in sys.path if p)]
    env = f"PYTHONPATH={os.pathsep.join(dict.fromkeys(paths))}"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for exe in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        command = ["/usr/bin/env", env, exe]
        try:
            probe = subprocess.run(
                [*command, "-c", "import impactlib"],
                user=NOBODY,
                group=NOBODY,
                cwd="/",
                capture_output=True,
                timeout=60,
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return command
    raise SystemExit(f"no Python {version} that nobody may run")


def bench_daemon(
    public: Path, processes: int, seconds: float, wall: bool = False
) -> dict[str, Any]:
    sleepers = [
        subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL) for _ in range(processes)
    ]
    try:
        live = sum(1 for n in os.listdir("/proc") if n.isdigit())
        daemon = start_daemon(public, wall)
        try:
            time.sleep(5.0)  # warm-up: first scans open every process's stat
            domains = sorted(ask(str(public / "d.sock"), "/v1/health").body["domains"])
            c0, t0 = process_cpu_s(daemon.pid), time.monotonic()
            time.sleep(seconds)
            c1, t1 = process_cpu_s(daemon.pid), time.monotonic()
        finally:
            daemon.terminate()
            daemon.wait(30)
    finally:
        for sleeper in sleepers:
            sleeper.kill()
        for sleeper in sleepers:
            sleeper.wait()
    return {
        "wall_meter": wall,
        "domains": domains,
        "processes_on_machine": live,
        "cpu_s": c1 - c0,
        "wall_s": t1 - t0,
        "core_percent": 100.0 * (c1 - c0) / (t1 - t0),
    }


def start_daemon(public: Path, wall: bool = False) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "IMPACTLIB_POWER_MODEL": str(public / "model.json"),
        "IMPACTLIB_WALL_POWER": "hwmon" if wall else "none",
        "IMPACTLIB_HWMON_ROOT": str(public / "hwmon"),
    }
    args = [
        sys.executable,
        "-m",
        "impactlib.cli.main",
        "serve",
        "--socket",
        str(public / "d.sock"),
        "--powercap-root",
        str(public / "sys" / "class" / "powercap"),
        "--interval",
        "1",
        "--metrics-address",
        "",
        "--store",
        str(public / "daemon.db"),
    ]
    daemon = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
    assert daemon.stderr is not None
    while "answering on" not in (line := daemon.stderr.readline()):
        if not line:
            raise SystemExit(f"impactlib serve did not start (exit {daemon.wait()})")
    return daemon


def bench_tracker(public: Path, seconds: float, reps: int, save_s: float) -> dict[str, Any]:
    python = user_python()
    home = public / "home"
    home.mkdir(exist_ok=True)
    os.chown(home, NOBODY, NOBODY)
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "IMPACTLIB_DAEMON_SOCKET": str(public / "d.sock"),
        "IMPACTLIB_POWERCAP_ROOT": str(public / "sys" / "class" / "powercap"),
        "IMPACTLIB_STORE": str(home / "runs.db"),
        "IMPACTLIB_POWER_MODEL": str(home / "model.json"),
        "IMPACTLIB_COUNTRY": "FR",
        "IMPACTLIB_INTENSITY_SOURCE": "static",
        "IMPACTLIB_SAVE_INTERVAL": str(save_s),
    }
    daemon = start_daemon(public)
    tracked: list[float] = []
    bare: list[float] = []
    methods = set()
    try:
        for _ in range(reps):
            for mode, into in (("track", tracked), ("bare", bare)):
                out = subprocess.run(
                    [*python, "-c", _CHILD, str(seconds), mode],
                    user=NOBODY,
                    group=NOBODY,
                    cwd="/",
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                result = json.loads(out.strip().splitlines()[-1])
                into.append(result["sleep_cpu_s"])
                if result["cpu_method"]:
                    methods.update(result["cpu_method"])
    finally:
        daemon.terminate()
        daemon.wait(30)
    per_minute = [(t - statistics.median(bare)) * 60.0 / seconds for t in tracked]
    return {
        "cpu_s_per_minute": statistics.median(per_minute),
        "min": min(per_minute),
        "max": max(per_minute),
        "bare_cpu_s": bare,
        "tracked_cpu_s": tracked,
        "cpu_methods": sorted(methods),
        "save_interval_s": save_s,
        "seconds": seconds,
        "reps": reps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="20 s windows, 2 reps")
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--save-intervals", default="10,60", help="tracker checkpoint intervals to measure (s)"
    )
    parser.add_argument("--trackers-only", action="store_true", help="skip the daemon's figure")
    parser.add_argument("--daemon-only", action="store_true", help="skip the trackers' figures")
    parser.add_argument(
        "--wall", action="store_true", help="the daemon's figure again, with a wall meter"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the tracker child runs as nobody, the daemon as root")
    seconds, reps = (20.0, 2) if args.quick else (args.seconds, args.reps)
    public = Path(tempfile.mkdtemp(prefix="impactlib-bench-", dir="/tmp"))
    public.chmod(0o755)
    stop = threading.Event()
    powercap = fake_package(public / "sys")
    wall = fake_wall(public / "hwmon") / "hwmon0" / "power1_average"
    driver = threading.Thread(
        target=drive, args=(powercap / "intel-rapl:0" / "energy_uj", wall, stop), daemon=True
    )
    driver.start()
    try:
        result: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.node()}, {os.cpu_count()} CPUs, Linux {platform.release()}",
            "python": platform.python_version(),
            "daemon": None if args.trackers_only else bench_daemon(public, args.processes, seconds),
            "daemon_with_wall": (
                bench_daemon(public, args.processes, seconds, wall=True) if args.wall else None
            ),
            "trackers": [
                bench_tracker(public, seconds, reps, float(save_s))
                for save_s in ([] if args.daemon_only else args.save_intervals.split(","))
            ],
        }
    finally:
        stop.set()
        shutil.rmtree(public, ignore_errors=True)
    for d in (result["daemon"], result["daemon_with_wall"]):
        if d is not None:
            print(
                f"daemon{' with a wall meter' if d['wall_meter'] else ''}, "
                f"{d['processes_on_machine']} processes: {d['core_percent']:.2f} % of one core "
                f"({d['cpu_s']:.3f} CPU-s in {d['wall_s']:.1f} s; target <= 2 %; "
                f"domains {', '.join(d['domains'])})"
            )
    for t in result["trackers"]:
        print(
            f"tracker served by the daemon, save_interval {t['save_interval_s']:g} s: "
            f"{t['cpu_s_per_minute']:.4f} CPU-s per tracked minute ({t['min']:.4f}-"
            f"{t['max']:.4f}; target <= 0.002; cpu method {t['cpu_methods']})"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
