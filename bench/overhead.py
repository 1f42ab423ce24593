"""Overhead of impactlib next to CodeCarbon, measured in the same run on the same machine.

Usage: ``python bench/overhead.py [--quick] [--seconds T] [--reps N] [--json PATH]``.

A measuring tool must cost far less than what it measures, so DESIGN §5 sets three targets,
and the acceptance bar is "at least 5x lighter than CodeCarbon on each":

1. **import**: whole-process wall time of ``python -c "import X"`` (a fresh interpreter each
   time, run alternately so both see the same cache state), minus ``python -c pass``.
   Target: impactlib's ≤ 1/10 of CodeCarbon's.
2. **init+start+stop around nothing**: whole-process wall time of a child that imports the
   tracker, creates, starts and stops it (minus the child that only imports it), and the
   in-process ``time.perf_counter`` time of create+start+stop alone. Each child gets a fresh
   store (impactlib: ``IMPACTLIB_STORE`` in a temporary directory, ``IMPACTLIB_COUNTRY=FR``;
   CodeCarbon: ``OfflineEmissionsTracker(country_iso_code="FRA", save_to_file=False,
   log_level="error")``). Target: ≤ 20 ms, checked on the in-process time.
3. **CPU per tracked minute**: a child starts the tracker, sleeps ``T`` seconds, stops it.
   The CPU time (``getrusage``: all threads of the child plus any processes it waited for)
   spent during the sleep, minus that of the same child sleeping with no tracker, scaled to
   60 s. impactlib at ``interval=1``; CodeCarbon at ``measure_power_secs=1`` and at its 15 s
   default. Target: ≤ 0.01 CPU-s per tracked minute at 1 s sampling. Two more rows put the
   figure in context: impactlib reading a (fake) RAPL tree, where the machine's CPU time is
   read at every tick, and the floor of any Python sampler here, a thread that only wakes
   once a second and reads ``/proc/stat`` and ``/proc/self/stat``.

Both packages run from compiled bytecode: the children drop ``PYTHONDONTWRITEBYTECODE`` and
each package is imported once before timing (an editable install would otherwise compile
impactlib's sources in every child while CodeCarbon's wheel ships them compiled).

Medians are the headline figures; min and max show the spread across repetitions.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

IMPORT = {"impactlib": "import impactlib", "codecarbon": "import codecarbon"}

# Children for part 2 and 3 print one JSON line: in-process timings and CPU deltas.
_CHILD = """
import json, resource, sys, time
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
tool, sleep_s, interval = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
if tool == "impactlib":
    import impactlib
    def make(): return impactlib.init(interval=interval)
elif tool == "floor":  # wakes once a second and reads the two files every sampler needs
    import os, threading
    class Floor:
        def start(self):
            fds = [os.open(p, os.O_RDONLY) for p in ("/proc/stat", "/proc/self/stat")]
            self.wake = threading.Lock(); self.wake.acquire()
            def loop():
                while not self.wake.acquire(timeout=interval):
                    for fd in fds: os.pread(fd, 1024, 0)
            threading.Thread(target=loop, daemon=True).start()
        def stop(self): self.wake.release()
    def make(): return Floor()
elif tool == "codecarbon":
    from codecarbon import OfflineEmissionsTracker
    def make():
        return OfflineEmissionsTracker(country_iso_code="FRA", save_to_file=False,
                                       log_level="error", measure_power_secs=interval)
else:
    def make(): return None
t0 = time.perf_counter()
t = make()
t1 = time.perf_counter()
if t is not None: t.start()
t2 = time.perf_counter()
c0 = cpu()
time.sleep(sleep_s)
c1 = cpu()
t3 = time.perf_counter()
if t is not None: t.stop()
t4 = time.perf_counter()
print(json.dumps({"init_s": t1 - t0, "start_s": t2 - t1, "stop_s": t4 - t3,
                  "sleep_cpu_s": c1 - c0, "total_cpu_s": cpu()}))
"""


def _run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall time of one child process and its stdout."""
    t0 = time.perf_counter()
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


def _env(**extra: str) -> dict[str, str]:
    """The parent's environment, allowed to use and write compiled bytecode."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **extra}


def _fake_powercap(root: Path) -> Path:
    """A one-socket RAPL tree (package and dram counters) as sysfs shows it."""
    for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0/intel-rapl:0:0", "dram")):
        path = root / "class" / "powercap" / zone
        path.mkdir(parents=True)
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text("1000000\n")
        (path / "max_energy_range_uj").write_text("262143328850\n")
    return root / "class" / "powercap"


def _child(
    tool: str, sleep_s: float, interval: float, rapl: bool = False
) -> tuple[float, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(
            IMPACTLIB_STORE=str(Path(tmp) / "runs.db"),
            IMPACTLIB_COUNTRY="FR",
            IMPACTLIB_INTENSITY_SOURCE="static",  # offline, like CodeCarbon Offline
            HOME=tmp,  # no state from earlier runs (CodeCarbon lock, impactlib caches)
        )
        if rapl:
            env["IMPACTLIB_POWERCAP_ROOT"] = str(_fake_powercap(Path(tmp) / "sys"))
        args = [sys.executable, "-c", _CHILD, tool, str(sleep_s), str(interval)]
        wall, out = _run(args, env)
    return wall, json.loads(out.strip().splitlines()[-1])


def warm_up() -> None:
    """Import each package once with bytecode writing allowed (see the module docstring)."""
    for code in ("pass", *IMPORT.values()):
        _run([sys.executable, "-c", code], _env())


def _stats(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def bench_import(reps: int) -> dict[str, Any]:
    codes = {"baseline": "pass", **IMPORT}
    times: dict[str, list[float]] = {k: [] for k in codes}
    for _ in range(reps):  # interleaved, so drift and cache state hit every variant alike
        for name, code in codes.items():
            times[name].append(_run([sys.executable, "-c", code], _env())[0])
    base = statistics.median(times["baseline"])
    return {k: {**_stats(v), "net_median": statistics.median(v) - base} for k, v in times.items()}


def bench_lifecycle(reps: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    runs: dict[str, list[tuple[float, dict[str, float]]]] = {
        k: [] for k in ("none", "impactlib", "codecarbon")
    }
    for _ in range(reps):
        for tool in runs:
            runs[tool].append(_child(tool, 0.0, 15.0 if tool == "codecarbon" else 1.0))
    for tool in ("impactlib", "codecarbon"):
        inproc = [d["init_s"] + d["start_s"] + d["stop_s"] for _, d in runs[tool]]
        wall = [w for w, _ in runs[tool]]
        res[tool] = {
            "in_process": _stats(inproc),
            "init": _stats([d["init_s"] for _, d in runs[tool]]),
            "start": _stats([d["start_s"] for _, d in runs[tool]]),
            "stop": _stats([d["stop_s"] for _, d in runs[tool]]),
            "whole_process": _stats(wall),
        }
    res["bare_child"] = _stats([w for w, _ in runs["none"]])
    return res


def bench_cpu(sleep_s: float, reps: int, cc_default: bool) -> dict[str, Any]:
    variants = {
        "none": ("none", 1.0, False),
        "impactlib@1s": ("impactlib", 1.0, False),
        "codecarbon@1s": ("codecarbon", 1.0, False),
        "impactlib@1s rapl": ("impactlib", 1.0, True),
        "floor@1s": ("floor", 1.0, False),
    }
    if cc_default:
        variants["codecarbon@15s"] = ("codecarbon", 15.0, False)
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for name, (tool, interval, rapl) in variants.items():
            cpu[name].append(_child(tool, sleep_s, interval, rapl)[1]["sleep_cpu_s"])
    base = statistics.median(cpu["none"])
    per_min = 60.0 / sleep_s
    return {
        name: {
            "raw": _stats(v),
            "per_min": _stats([(x - base) * per_min for x in v]),
        }
        for name, v in cpu.items()
    }


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {p: metadata.version(p) for p in ("impactlib", "codecarbon", "psutil")}
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"date {m['date']}  cpu {m['cpu']} x{m['cores']}  {m['platform']}")
    print(f"python {m['python']}  " + "  ".join(f"{k} {v}" for k, v in m["versions"].items()))
    rows: list[tuple[str, float, float, str, str]] = []
    imp = r["import"]
    il, cc = imp["impactlib"]["net_median"], imp["codecarbon"]["net_median"]
    rows.append(
        (
            "import, net of `python -c pass` (ms)",
            il * 1e3,
            cc * 1e3,
            f"<= cc/10 = {cc * 100:.1f} ms",
            _verdict(il <= cc / 10),
        )
    )
    lc = r["lifecycle"]
    il, cc = lc["impactlib"]["in_process"]["median"], lc["codecarbon"]["in_process"]["median"]
    rows.append(
        ("init+start+stop, in-process (ms)", il * 1e3, cc * 1e3, "<= 20 ms", _verdict(il <= 0.020))
    )
    base = lc["bare_child"]["median"]
    il = lc["impactlib"]["whole_process"]["median"] - base
    cc = lc["codecarbon"]["whole_process"]["median"] - base
    rows.append(("import+init+start+stop, whole process net (ms)", il * 1e3, cc * 1e3, "-", "-"))
    cpu = r["cpu"]
    il = cpu["impactlib@1s"]["per_min"]["median"]
    cc = cpu["codecarbon@1s"]["per_min"]["median"]
    rows.append(("CPU-s per tracked minute @1 s", il, cc, "<= 0.01", _verdict(il <= 0.01)))
    if "codecarbon@15s" in cpu:
        cc15 = cpu["codecarbon@15s"]["per_min"]["median"]
        rows.append(("CPU-s per tracked minute, cc @15 s default", il, cc15, "-", "-"))
    rapl = cpu["impactlib@1s rapl"]["per_min"]["median"]
    rows.append(("CPU-s per tracked minute @1 s, fake RAPL tree", rapl, cc, "-", "-"))
    floor = cpu["floor@1s"]["per_min"]["median"]
    rows.append(("CPU-s per minute, bare Python sampler (floor)", floor, cc, "-", "-"))
    print(
        f"\n{'figure (medians)':48} {'impactlib':>10} {'codecarbon':>11} {'cc/il':>7}  "
        f"{'target':22} {'target':7} 5x bar"
    )
    for name, a, b, target, verdict in rows:
        ratio = b / a if a > 0 else float("inf")
        bar = "met" if ratio >= 5 else "MISSED"
        print(f"{name:48} {a:10.4g} {b:11.4g} {ratio:7.1f}  {target:22} {verdict:7} {bar}")
    r["table"] = [
        dict(zip(("figure", "impactlib", "codecarbon", "target", "target_met"), row, strict=True))
        for row in rows
    ]
    print("\nspread (min..max over repetitions):")
    for k in ("baseline", "impactlib", "codecarbon"):
        s = imp[k]
        print(f"  import {k:10} {s['min'] * 1e3:.1f}..{s['max'] * 1e3:.1f} ms (n={s['n']})")
    for k in ("impactlib", "codecarbon"):
        s = lc[k]
        parts = "  ".join(f"{p} {s[p]['median'] * 1e3:.1f}" for p in ("init", "start", "stop"))
        print(
            f"  lifecycle {k:10} in-process {s['in_process']['min'] * 1e3:.1f}.."
            f"{s['in_process']['max'] * 1e3:.1f} ms  (median ms: {parts})  whole process "
            f"{s['whole_process']['min'] * 1e3:.0f}..{s['whole_process']['max'] * 1e3:.0f} ms"
        )
    for k, s in cpu.items():
        print(
            f"  cpu {k:15} raw {s['raw']['min']:.4f}..{s['raw']['max']:.4f} CPU-s over "
            f"{r['sleep_s']:g} s; per min {s['per_min']['min']:.4f}..{s['per_min']['max']:.4f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 s CPU windows, fewer repetitions")
    ap.add_argument("--seconds", type=float, help="CPU window per child (default 60, quick 20)")
    ap.add_argument("--reps", type=int, help="repetitions for import/lifecycle (default 10)")
    ap.add_argument("--cpu-reps", type=int, default=2, help="repetitions of each CPU child")
    ap.add_argument("--no-cc-default", action="store_true", help="skip CodeCarbon at 15 s")
    ap.add_argument("--json", type=Path, help="save the results here")
    a = ap.parse_args()
    sleep_s = a.seconds or (20.0 if a.quick else 60.0)
    reps = a.reps or (5 if a.quick else 10)
    warm_up()
    r: dict[str, Any] = {
        "machine": machine(),
        "sleep_s": sleep_s,
        "reps": reps,
        "codecarbon_tracker": "OfflineEmissionsTracker(country_iso_code='FRA', "
        "save_to_file=False, log_level='error', measure_power_secs=...)",
    }
    r["import"] = bench_import(reps)
    r["lifecycle"] = bench_lifecycle(reps)
    r["cpu"] = bench_cpu(sleep_s, a.cpu_reps, not a.no_cc_default)
    report(r)
    if a.json:
        a.json.write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
