"""TDP lookups: the committed CPU index matches the bundled tables, and every lookup returns
what it returned before the index existed (expected values recorded then, at commit 2bc982f:
inline for /proc/cpuinfo-style strings, in data/hardware_lookups.json for every table name).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from impactlib import data
from impactlib.errors import UsageError
from impactlib.meters import tdp as hardware
from impactlib.meters.tdp import TdpEntry

CC = "CodeCarbon cpu_power.csv"
GA_CPU = "Green Algorithms TDP_cpu.csv v3.0"
MLCO2 = "ML CO2 Impact gpus.csv"
GA_GPU = "Green Algorithms TDP_gpu.csv v3.0"

# A query and the row it finds, or the close matches its UsageError names (suggest=True).
CPU_CASES = [
    (
        "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
        TdpEntry("Intel Xeon Gold 6148", 150.0, None, None, CC),
    ),
    (
        "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz",
        TdpEntry("Intel Xeon Platinum 8380", 270.0, None, None, CC),
    ),
    (
        "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",
        TdpEntry("Intel Xeon E5-2680 v4", 120.0, None, None, CC),
    ),
    (
        "Intel(R) Xeon(R) CPU E5-2698 v4 @ 2.20GHz",
        TdpEntry("Intel Xeon E5-2698 v4", 135.0, None, None, CC),
    ),
    (
        "Intel(R) Xeon(R) Platinum 8275CL CPU @ 3.00GHz",
        TdpEntry("Intel Xeon Platinum 8275CL", 240.0, None, None, CC),
    ),
    (
        "Intel(R) Xeon(R) CPU @ 2.20GHz",
        ["Intel Xeon 3.8", "Intel Xeon 3.6", "Intel Xeon 3.4", "Intel Xeon 3.2"],
    ),
    (
        "Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz",
        TdpEntry("Intel Xeon Silver 4214R", 100.0, None, None, CC),
    ),
    (
        "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
        TdpEntry("Intel Xeon Gold 6338", 205.0, None, None, CC),
    ),
    (
        "Intel(R) Xeon(R) Platinum 8480+",
        TdpEntry("Intel Xeon Platinum 8480+", 350.0, None, None, CC),
    ),
    ("Intel(R) Xeon(R) W-2295 CPU @ 3.00GHz", TdpEntry("Intel Xeon W-2295", 165.0, None, None, CC)),
    (
        "Intel(R) Xeon(R) CPU E3-1230 v5 @ 3.40GHz",
        TdpEntry("Intel Xeon E3-1230 v5", 80.0, None, None, CC),
    ),
    (
        "Intel(R) Core(TM) i7-8700K CPU @ 3.70GHz",
        TdpEntry("Intel Core i7-8700K", 95.0, None, None, CC),
    ),
    (
        "Intel(R) Core(TM) i9-9900K CPU @ 3.60GHz",
        TdpEntry("Intel Core i9-9900K", 95.0, None, None, CC),
    ),
    (
        "Intel(R) Core(TM) i5-10210U CPU @ 1.60GHz",
        TdpEntry("Intel Core i5-10210U", 15.0, None, None, CC),
    ),
    (
        "11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz",
        TdpEntry("Intel Core i7-1165G7", 28.0, None, None, CC),
    ),
    (
        "12th Gen Intel(R) Core(TM) i7-12700H",
        TdpEntry("Intel Core i7-12700H", 45.0, None, None, CC),
    ),
    (
        "13th Gen Intel(R) Core(TM) i9-13900K",
        TdpEntry("Intel Core i9-13900K", 125.0, None, None, CC),
    ),
    ("Intel(R) Core(TM) Ultra 7 155H", TdpEntry("Intel Core Ultra 7 155H", 28.0, None, None, CC)),
    (
        "Intel(R) Celeron(R) CPU N3050 @ 1.60GHz",
        TdpEntry("Intel Celeron N3050", 6.0, None, None, CC),
    ),
    (
        "Intel(R) Pentium(R) CPU G4560 @ 3.50GHz",
        TdpEntry("Intel Pentium G4560", 54.0, None, None, CC),
    ),
    ("Intel(R) Atom(TM) CPU C2750 @ 2.40GHz", TdpEntry("Intel Atom C2750", 20.0, None, None, CC)),
    (
        "Intel Xeon Processor (Skylake, IBRS)",
        ["Intel Xeon 2.8B", "Intel Xeon 2.4B", "Intel Xeon 2.0B", "Intel Xeon LV 3.0"],
    ),
    (
        "Intel Core Processor (Broadwell)",
        [
            "Intel Core Duo LV L2500",
            "Intel Core Duo LV L2400",
            "Intel Core Duo LV L2300",
            "Intel Core Duo ULV L2500",
        ],
    ),
    ("AMD EPYC 7763 64-Core Processor", TdpEntry("AMD EPYC 7763", 280.0, 4.4, 64, GA_CPU)),
    ("AMD EPYC 7742 64-Core Processor", TdpEntry("AMD EPYC 7742", 225.0, None, None, CC)),
    ("AMD EPYC 7B12", TdpEntry("AMD EPYC 7B12", 240.0, None, None, CC)),
    ("AMD EPYC 7R32", ["AMD EPYC 7R13", "AMD EPYC 7F32", "AMD EPYC 7532", "AMD EPYC 7352"]),
    ("AMD EPYC 9654 96-Core Processor", TdpEntry("AMD EPYC 9654", 360.0, None, None, CC)),
    ("AMD EPYC 7543 32-Core Processor", TdpEntry("AMD EPYC 7543", 225.0, None, None, CC)),
    (
        "AMD EPYC-Rome Processor",
        ["AMD EPYC 7R13", "AMD EPYC 9965", "AMD EPYC 9845", "AMD EPYC 9825"],
    ),
    ("AMD EPYC", ["AMD EPYC 9965", "AMD EPYC 9845", "AMD EPYC 9825", "AMD EPYC 9755"]),
    ("AMD Ryzen 9 5950X 16-Core Processor", TdpEntry("AMD Ryzen 9 5950X", 105.0, None, None, CC)),
    ("AMD Ryzen 7 5800X 8-Core Processor", TdpEntry("AMD Ryzen 7 5800X", 105.0, None, None, CC)),
    ("AMD Ryzen 5 3600 6-Core Processor", TdpEntry("AMD Ryzen 5 3600", 65.0, None, None, CC)),
    (
        "AMD Ryzen 7 PRO 4750U with Radeon Graphics",
        TdpEntry("AMD Ryzen 7 PRO 4750U", 15.0, None, None, CC),
    ),
    ("AMD Ryzen 9 7950X 16-Core Processor", TdpEntry("AMD Ryzen 9 7950X", 170.0, None, None, CC)),
    (
        "AMD Ryzen Threadripper 3990X 64-Core Processor",
        TdpEntry("AMD Ryzen Threadripper 3990X", 280.0, None, None, CC),
    ),
    (
        "AMD Ryzen Threadripper PRO 5995WX 64-Cores",
        TdpEntry("AMD Ryzen Threadripper PRO 5995WX", 280.0, None, None, CC),
    ),
    ("AMD Opteron(tm) Processor 6276", TdpEntry("AMD Opteron 6276", 115.0, None, None, CC)),
    ("AMD Athlon(tm) II X4 640 Processor", TdpEntry("AMD Athlon II X4 640", 95.0, None, None, CC)),
    (
        "AMD Ryzen 5 PRO 3500U w/ Radeon Vega Mobile Gfx",
        TdpEntry("AMD Ryzen 5 PRO 3500U", 15.0, None, None, CC),
    ),
    ("QEMU Virtual CPU version 2.5+", []),
    ("Common KVM processor", []),
    ("ARMv7 Processor rev 4 (v7l)", ["ARMv8 Processor rev 0 (v8l)"]),
    ("Neoverse-N1", []),
    ("Apple M1", TdpEntry("Apple M1", 10.0, None, None, CC)),
    ("Apple M2 Max", ["Apple M1"]),
    ("Virtual CPU", []),
    ("Unknown", []),
    ("", []),
    ("CPU", []),
    ("Xeon Gold 6184", ["Xeon Gold 6148", "Xeon Gold 6142", "Xeon Gold 6248", "Xeon Gold 6252"]),
    ("xeon gold", ["Xeon Gold 6252", "Xeon Gold 6248", "Xeon Gold 6148", "Xeon Gold 6142"]),
    ("epyc", ["AMD EPYC 4124P", "AMD EPYC 4244P", "AMD EPYC 4245P", "AMD EPYC 4344P"]),
    ("ryzen", ["AMD Ryzen 3 1200", "AMD Ryzen 3 1300", "AMD Ryzen 3 1300X", "AMD Ryzen 3 210"]),
    (
        "i7",
        [
            "Intel Core i7-990X",
            "Intel Core i7-9850HL",
            "Intel Core i7-9850HE",
            "Intel Core i7-9850H",
        ],
    ),
    (
        "i7 8700",
        ["Intel Core i7-8700T", "Intel Core i7-8700K", "Intel Core i7-8700B", "Intel Core i7-8700"],
    ),
    (
        "INTEL(R) XEON(R) GOLD 6148 CPU @ 2.40GHZ",
        TdpEntry("Intel Xeon Gold 6148", 150.0, None, None, CC),
    ),
    (
        "intel(r) xeon(r) gold 6148 cpu @ 2.40ghz",
        TdpEntry("Intel Xeon Gold 6148", 150.0, None, None, CC),
    ),
    ("AMD EPYC 7763 64-CORE PROCESSOR", TdpEntry("AMD EPYC 7763", 280.0, 4.4, 64, GA_CPU)),
    ("amd epyc 7763 64-core processor", TdpEntry("AMD EPYC 7763", 280.0, 4.4, 64, GA_CPU)),
    ("Core i7-8700K", TdpEntry("Core i7-8700K", 95.0, 15.8, 6, GA_CPU)),
    ("Xeon E5-2680 v4", TdpEntry("Intel Xeon E5-2680 v4", 120.0, None, None, CC)),
    ("EPYC 7763", TdpEntry("AMD EPYC 7763", 280.0, 4.4, 64, GA_CPU)),
    ("Ryzen 9 5950X", TdpEntry("AMD Ryzen 9 5950X", 105.0, None, None, CC)),
    (
        "Threadripper 3990X",
        [
            "Ryzen Threadripper 3990X",
            "Ryzen Threadripper 2990WX",
            "AMD Ryzen Threadripper 3990X",
            "AMD Ryzen Threadripper 9980X",
        ],
    ),
    ("Gold 6148", ["Xeon Gold 6148", "Xeon Gold 6248", "Xeon Gold 6142", "Intel Xeon Gold 6148"]),
    ("6148", ["6348", "6140"]),
    ("v4", TdpEntry("Intel Xeon AWS-1100 v4", 145.0, None, None, CC)),
    ("NVIDIA Grace CPU", []),
    # Two table names of the same length in the query: the earlier row wins, in either order
    ("FX-8350 FX-6300", TdpEntry("FX-6300", 95.0, 15.8, 6, GA_CPU)),
    ("FX-6300 FX-8350", TdpEntry("FX-6300", 95.0, 15.8, 6, GA_CPU)),
    ("Xeon Gold 6248 Xeon Gold 6148", TdpEntry("Xeon Gold 6148", 150.0, 7.5, 20, GA_CPU)),
    # Beyond ASCII: a zero-width space in a table name, a lone surrogate in a query
    ("6600 hs\u200b", TdpEntry("AMD Ryzen 5 6600HS\u200b", 35.0, None, None, CC)),
    (
        "AMD EPYC 7763\ud800",
        ["AMD EPYC 7763", "AMD EPYC 7713", "AMD EPYC 7663", "AMD EPYC 7643"],
    ),
]
GPU_CASES = [
    (
        "NVIDIA A100-SXM4-40GB",
        ["A100 SXM4 80 GB", "NVIDIA A100 40GB PCIe", "A100 PCIe 40/80GB", "NVIDIA A100 80GB PCIe"],
    ),
    ("NVIDIA A100-SXM4-80GB", TdpEntry("A100 SXM4 80 GB", 400.0, None, None, MLCO2)),
    ("NVIDIA A100 80GB PCIe", TdpEntry("NVIDIA A100 80GB PCIe", 300.0, None, None, GA_GPU)),
    ("NVIDIA H100 80GB HBM3", ["H100 SXM", "H100 NVL"]),
    ("NVIDIA H100 PCIe", ["H100 SXM", "H100 NVL"]),
    ("NVIDIA H200", []),
    ("Tesla V100-SXM2-32GB", TdpEntry("Tesla V100-SXM2-32GB", 300.0, None, None, MLCO2)),
    ("Tesla V100-PCIE-16GB", TdpEntry("Tesla V100-PCIE-16GB", 300.0, None, None, MLCO2)),
    ("Tesla T4", TdpEntry("NVIDIA Tesla T4", 70.0, None, None, GA_GPU)),
    ("NVIDIA L4", TdpEntry("L4", 72.0, None, None, MLCO2)),
    ("NVIDIA L40S", TdpEntry("L40S", 350.0, None, None, MLCO2)),
    ("NVIDIA GeForce RTX 3090", TdpEntry("RTX 3090", 350.0, None, None, MLCO2)),
    ("NVIDIA GeForce RTX 4090", TdpEntry("RTX 4090", 450.0, None, None, MLCO2)),
    ("NVIDIA RTX A6000", TdpEntry("RTX A6000", 300.0, None, None, MLCO2)),
    ("Tesla K80", TdpEntry("NVIDIA Tesla K80", 300.0, None, None, GA_GPU)),
    ("Tesla P100-PCIE-16GB", TdpEntry("NVIDIA Tesla P100 PCIe", 250.0, None, None, GA_GPU)),
    ("Quadro RTX 8000", TdpEntry("RTX 8000", 260.0, None, None, MLCO2)),
    ("AMD Instinct MI250X", []),
    ("AMD Instinct MI300X", []),
    ("NVIDIA GeForce GTX 1080 Ti", TdpEntry("NVIDIA GTX 1080 Ti", 250.0, None, None, GA_GPU)),
    ("Tesla V100", TdpEntry("NVIDIA Tesla V100", 300.0, None, None, GA_GPU)),
    ("A100 40GB PCIe", TdpEntry("NVIDIA A100 40GB PCIe", 250.0, None, None, GA_GPU)),
    ("nvidia a100", ["A100 PCIe 40/80GB", "NVIDIA A100 80GB PCIe", "NVIDIA A100 40GB PCIe"]),
    ("H100", ["H100 SXM", "H100 NVL"]),
    ("unknown gpu", []),
    ("", []),
    ("NVIDIA", []),
]

RECORDED = json.loads((Path(__file__).parent.parent / "data" / "hardware_lookups.json").read_text())
_HINT = re.compile(r"; close matches: .*?(?=; give a model)")


def unknown(kind: str, query: str, close: list[str]) -> str:
    """The UsageError message for an unknown model."""
    hint = f"; close matches: {', '.join(close)}" if close else ""
    power = " (--cores N --cpu-w-per-core W)" if kind == "CPU" else " (--gpu-w W)"
    return (
        f"unknown {kind} model '{query}'{hint}; "
        f"give a model from the bundled tables or the power directly{power}"
    )


def lookup(kind: str, query: str, suggest: bool = True) -> TdpEntry | str:
    """The row found, or the UsageError message."""
    try:
        return (
            hardware.cpu_tdp(query, suggest=suggest) if kind == "CPU" else hardware.gpu_tdp(query)
        )
    except UsageError as error:
        return str(error)


def recorded(kind: str, query: str) -> TdpEntry | str:
    """The recorded result of a query: the row found, or the UsageError message."""
    result: list[Any] | str = RECORDED[kind][query]
    if isinstance(result, str):
        return result
    name, tdp_w, w_per_core, n_cores, table = result
    return TdpEntry(name, tdp_w, w_per_core, n_cores, RECORDED["tables"][table])


def test_committed_cpu_index_matches_the_tables() -> None:
    # Byte for byte: a stale or CRLF-converted index would give wrong or failing lookups.
    assert data.read_bytes("cpu_index.tsv") == hardware._build_index("CPU").encode(), (
        "data/cpu_index.tsv is out of date: run python -m impactlib.meters.tdp --write-index"
    )


@pytest.mark.parametrize(("query", "expected"), CPU_CASES)
def test_cpu_cpuinfo_strings(query: str, expected: TdpEntry | list[str]) -> None:
    if isinstance(expected, TdpEntry):
        assert hardware.cpu_tdp(query) == expected
        assert hardware.cpu_tdp(query, suggest=False) == expected
    else:
        assert lookup("CPU", query) == unknown("CPU", query, expected)
        # Without suggest (tracker start-up) no close matches are looked for.
        assert lookup("CPU", query, suggest=False) == unknown("CPU", query, [])


@pytest.mark.parametrize(("query", "expected"), GPU_CASES)
def test_gpu_names(query: str, expected: TdpEntry | list[str]) -> None:
    want = expected if isinstance(expected, TdpEntry) else unknown("GPU", query, expected)
    assert lookup("GPU", query) == want


@pytest.mark.parametrize("kind", ["CPU", "GPU"])
def test_every_table_name_and_variant_finds_what_it_found_before(kind: str) -> None:
    wrong = {q: lookup(kind, q) for q in RECORDED[kind] if lookup(kind, q) != recorded(kind, q)}
    assert not wrong


def test_without_suggest_same_rows_and_messages_without_close_matches() -> None:
    wrong = {}
    for query in RECORDED["CPU"]:
        want = recorded("CPU", query)
        if isinstance(want, str):
            want = _HINT.sub("", want)
        got = lookup("CPU", query, suggest=False)
        if got != want:
            wrong[query] = got
    assert not wrong


def test_model_words() -> None:
    assert hardware._model_words("intel xeon e5 2680 v4") == {"e5", "v4"}
    assert hardware._model_words("tesla v100 sxm2 32 gb") == {"v100", "sxm2"}
    assert hardware._model_words("amd epyc 7763") == set()
    assert hardware._model_words("") == set()


def test_models_filter_by_words() -> None:
    gpus = hardware.models("GPU")
    assert len(gpus) == len(hardware._table_rows("GPU"))
    assert [e.name for e in hardware.models("GPU", "H100")] == ["H100 SXM", "H100 NVL"]
    # model words match whole words: A10 is not an A100; other words may start one
    assert [e.name for e in hardware.models("GPU", "A10")] == ["A10G"]
    assert [e.name for e in hardware.models("GPU", "a100 sxm")] == ["A100 SXM4 80 GB"]
    names = [e.name for e in hardware.models("CPU", "Xeon Gold 61")]
    assert "Intel Xeon Gold 6148" in names and all("Gold 61" in n for n in names)
    assert hardware.models("CPU", "Xeon Gold 6148 nonsense") == []
