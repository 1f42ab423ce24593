"""Check NVML's energy counter against integrated power, on a real NVIDIA GPU.

Not run in CI. Usage: ``python bench/validate_gpu.py [--seconds 30] [--idle 3]``.

Over one window (idle, matrix-multiply load, idle) it measures the GPU's energy four ways:

* the energy counter delta (``nvmlDeviceGetTotalEnergyConsumption``, the reference);
* ``nvmlDeviceGetPowerUsage`` sampled at 10 Hz and integrated (trapezoid rule);
* ``nvidia-smi --query-gpu=power.draw -lms 100`` integrated the same way;
* impactlib's ``NvidiaMeter`` (start/end reads),

plus the median latency of each NVML call the meter makes. It prints a table and writes
the numbers to ``$OUT/validate_gpu.json`` (or ``./validate_gpu.json``). With no GPU or
driver it prints one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Integers in CUDA_VISIBLE_DEVICES then follow PCI order, which is what NvidiaMeter assumes;
# must be set before CUDA initialises.
os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

NO_GPU = "no NVIDIA GPU/driver found"


def trapezoid(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """Joules under the straight lines joining (time s, watts) samples, within [start, end].

    Segments that straddle a window edge are cut there (power interpolated), so the edges
    are neither lost nor counted outside the window.
    """
    total = 0.0
    for (t0, w0), (t1, w1) in zip(samples, samples[1:], strict=False):
        a, b = max(t0, start), min(t1, end)
        if b <= a or t1 <= t0:
            continue
        slope = (w1 - w0) / (t1 - t0)
        total += (w0 + slope * (a - t0) + w0 + slope * (b - t0)) / 2 * (b - a)
    return total


def median_us(call: Callable[[], Any], repeat: int) -> float:
    """Median wall time of one call, in µs."""
    times = []
    for _ in range(repeat):
        begin = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - begin) / 1e3)
    return statistics.median(times)


class PowerPoller(threading.Thread):
    """nvmlDeviceGetPowerUsage at a fixed rate, stamped right after each read."""

    def __init__(self, nvml: Any, handle: Any, period_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.nvml, self.handle, self.period_s = nvml, handle, period_s
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        next_tick = time.monotonic()
        while not self.stop.is_set():
            watts = self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1e3
            self.samples.append((time.monotonic(), watts))
            next_tick += self.period_s
            self.stop.wait(max(0.0, next_tick - time.monotonic()))


class SmiPoller(threading.Thread):
    """``nvidia-smi -lms 100`` power.draw lines, stamped on arrival (its own clock is coarser)."""

    def __init__(self, uuid: str) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.error = ""
        command = [
            "nvidia-smi",
            f"--id={uuid}",
            "--query-gpu=power.draw",
            "--format=csv,noheader,nounits",
            "-lms",
            "100",
        ]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.samples.append((time.monotonic(), float(line.strip())))
            except ValueError:
                self.error = line.strip()  # "[N/A]" on GPUs without a power sensor

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)
        self.join(timeout=5)


def make_load(seconds: float) -> tuple[str, Callable[[], int] | None]:
    """A matrix-multiply loop on CUDA device 0, or None when no array library is here."""
    try:
        import torch

        if torch.cuda.is_available():

            def torch_load() -> int:
                a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
                b = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
                end, steps = time.monotonic() + seconds, 0
                while time.monotonic() < end:
                    for _ in range(10):
                        a = (a @ b).clamp_(-1, 1)
                    torch.cuda.synchronize()
                    steps += 10
                return steps

            return f"torch {torch.__version__} fp16 8192^3 matmul", torch_load
    except ImportError:
        pass
    try:
        import cupy

        def cupy_load() -> int:
            a = cupy.random.standard_normal((8192, 8192), dtype=cupy.float32).astype(cupy.float16)
            b = cupy.random.standard_normal((8192, 8192), dtype=cupy.float32).astype(cupy.float16)
            end, steps = time.monotonic() + seconds, 0
            while time.monotonic() < end:
                for _ in range(10):
                    a = cupy.clip(a @ b, -1, 1)
                cupy.cuda.Device().synchronize()
                steps += 10
            return steps

        return f"cupy {cupy.__version__} fp16 8192^3 matmul", cupy_load
    except ImportError:
        return "none: neither torch (with CUDA) nor cupy is importable; the GPU stays idle", None


def torch_uuid() -> str | None:
    """UUID of CUDA device 0 as torch sees it, to check our CUDA_VISIBLE_DEVICES mapping."""
    try:
        import torch

        uuid = getattr(torch.cuda.get_device_properties(0), "uuid", None)
        return None if uuid is None else f"GPU-{uuid}"
    except Exception:  # optional check
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration")
    parser.add_argument("--idle", type=float, default=3.0, help="idle before and after")
    args = parser.parse_args()

    try:
        import pynvml

        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() == 0:
            raise RuntimeError("no device")
    except Exception:  # any failure here means no usable GPU
        print(NO_GPU)
        return 2

    from impactlib.meters.nvidia import NvidiaMeter

    visible = os.environ.get("CUDA_VISIBLE_DEVICES") or "0"
    meter = NvidiaMeter(pynvml, visible_devices=visible.split(",")[0])
    domain = meter.domains()[0]
    uuid = domain.id.removeprefix("gpu:")
    handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
    name = meter.device_names()[domain.id]
    load_name, load = make_load(args.seconds)
    print(f"GPU {name} {uuid}; meter method {domain.method}; load: {load_name}")

    def read_counter_mj() -> int | None:
        try:
            return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        except pynvml.NVMLError:
            return None  # pre-Volta or unsupported board: ratios use nvml power instead

    latency = {
        "nvmlDeviceGetTotalEnergyConsumption": median_us(read_counter_mj, 200),
        "nvmlDeviceGetPowerUsage": median_us(lambda: pynvml.nvmlDeviceGetPowerUsage(handle), 200),
        "NvidiaMeter.read_energy_j": median_us(meter.read_energy_j, 200),
        "nvmlDeviceGetComputeRunningProcesses": median_us(
            lambda: pynvml.nvmlDeviceGetComputeRunningProcesses(handle), 30
        ),
        "NvidiaMeter.process_weights": median_us(meter.process_weights, 30),
    }

    poller = PowerPoller(pynvml, handle)
    smi = SmiPoller(uuid) if shutil.which("nvidia-smi") else None
    poller.start()
    if smi is not None:
        smi.start()
    time.sleep(1.0)  # let both pollers produce samples before the window opens

    start = time.monotonic()
    counter0 = read_counter_mj()
    meter0 = meter.read_energy_j()[domain.id]
    time.sleep(args.idle)
    steps = load() if load is not None else 0
    if load is None:
        time.sleep(args.seconds)
    time.sleep(args.idle)
    counter1 = read_counter_mj()
    meter1 = meter.read_energy_j()[domain.id]
    end = time.monotonic()
    weights = meter.process_weights()

    time.sleep(0.3)
    poller.stop.set()
    poller.join()
    if smi is not None:
        smi.close()

    power_j = trapezoid(poller.samples, start, end)
    counted = counter0 is not None and counter1 is not None
    counter_j = (
        (counter1 - counter0) / 1e3 if counter0 is not None and counter1 is not None else None
    )
    reference = counter_j if counter_j else power_j
    rows: dict[str, float | None] = {
        "nvml energy counter": counter_j,
        "nvml power @10 Hz": power_j,
        "nvidia-smi -lms 100": trapezoid(smi.samples, start, end) if smi else None,
        "NvidiaMeter": meter1 - meter0,
    }
    seconds = end - start
    print(f"\nwindow {seconds:.2f} s ({args.idle:g} s idle, load, {args.idle:g} s idle)")
    print(f"{'method':<22}{'energy J':>12}{'mean W':>10}{'/reference':>11}")
    for method, joules in rows.items():
        if joules is None:
            print(f"{method:<22}{'n/a':>12}")
            continue
        ratio = joules / reference if reference else float("nan")
        print(f"{method:<22}{joules:>12.1f}{joules / seconds:>10.1f}{ratio:>11.4f}")
    print("reference: " + ("the energy counter" if counted else "nvml power (no counter here)"))
    print("\nmedian call latency")
    for call, micros in latency.items():
        print(f"  {call:<40}{micros:>10.1f} µs")
    expected_uuid = torch_uuid()
    if expected_uuid is not None:
        agree = "agree" if expected_uuid == uuid else f"DISAGREE (torch: {expected_uuid})"
        print(f"\nCUDA device 0 and NvidiaMeter's device {agree}")

    result = {
        "gpu": name,
        "uuid": uuid,
        "driver": _text(pynvml.nvmlSystemGetDriverVersion()),
        "meter_method": domain.method,
        "load": load_name,
        "load_steps": steps,
        "window_s": seconds,
        "energy_j": rows,
        "reference": "nvml energy counter" if counted else "nvml power @10 Hz",
        "ratio_to_reference": {
            k: (v / reference if v is not None and reference else None) for k, v in rows.items()
        },
        "samples": {
            "nvml_power": len(poller.samples),
            "nvidia_smi": len(smi.samples) if smi else 0,
        },
        "nvidia_smi_error": smi.error if smi else "nvidia-smi not found",
        "median_latency_us": latency,
        "process_weights": {k: {str(p): w for p, w in v.items()} for k, v in weights.items()},
        "torch_device0_uuid": expected_uuid,
    }
    out_dir = Path(os.environ.get("OUT") or ".")
    out_file = out_dir / "validate_gpu.json"
    out_file.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out_file}")
    meter.close()
    pynvml.nvmlShutdown()
    return 0


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


if __name__ == "__main__":
    sys.exit(main())
