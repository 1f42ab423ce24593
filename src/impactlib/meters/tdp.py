"""Bundled hardware power tables: CPU and GPU TDP lookups by model name.

Used by the estimation model where no meter can be read (:mod:`impactlib.meters.model`),
and from there by ``impactlib estimate`` and the SLURM estimates: the tables describe
hardware, so they live with the meters and every user of them imports downwards.
Tables (see data/ATTRIBUTION.md): Green Algorithms ``TDP_cpu.csv`` / ``TDP_gpu.csv``
(W per core for CPUs, W per GPU), CodeCarbon ``cpu_power.csv`` (W per package, ~4,900
models), ML CO2 Impact ``gpus.csv`` (W per device, includes H100/L4/L40S).
Names are compared after normalisation (trademark marks, clock speeds and filler words
removed), so ``Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz`` finds ``Intel Xeon Gold 6148``.

Every tracker on a machine without RAPL looks its CPU up once per process, so the lookup
must cost milliseconds. Normalising the ~5,000 CPU names costs far more than that, so they
are normalised once, into the committed ``data/cpu_index.tsv`` (rebuild it with
``python -m impactlib.meters.tdp --write-index`` after updating the CSVs; a test checks it
matches them). A lookup searches its bytes with ``bytes.find`` and decodes only the lines
it returns. The few GPU names are indexed in memory the same way.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import islice
from pathlib import Path

from .. import data
from ..errors import UsageError

GA_DEFAULT_W_PER_CORE = 12.0  # Green Algorithms "Any" CPU row
GA_DEFAULT_GPU_W = 200.0  # Green Algorithms "Any" GPU row

_FILLER = re.compile(
    r"\((r|tm)\)|\b(cpu|processor|with radeon graphics|\d+-core)\b|@.*$|\bsoc\b", re.IGNORECASE
)

_CPU_INDEX = "cpu_index.tsv"
# Index lines name their source CSV; entries carry this citation of it.
_TABLES = {
    "cpu_power.csv": "CodeCarbon cpu_power.csv",
    "TDP_cpu.csv": "Green Algorithms TDP_cpu.csv v3.0",
    "mlco2_gpus.csv": "ML CO2 Impact gpus.csv",
    "TDP_gpu.csv": "Green Algorithms TDP_gpu.csv v3.0",
}


@dataclass(frozen=True)
class TdpEntry:
    """A table row: ``tdp_w`` for the whole chip/card, ``w_per_core`` when the table gives it."""

    name: str
    tdp_w: float | None
    w_per_core: float | None
    n_cores: int | None
    table: str


def normalise(name: str) -> str:
    """Lower-case model name without marks, clock speed and filler words."""
    text = _FILLER.sub(" ", name)
    text = text.replace("nvidia", " ").replace("NVIDIA", " ")
    text = re.sub(r"(\d)([a-z])", r"\1 \2", text.lower().replace("-", " "))
    return " ".join(text.split())


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _table_rows(kind: str) -> dict[str, tuple[str, float | None, float | None, int | None, str]]:
    """Normalised name -> (name, TDP W, W per core, cores, source CSV), in table order. A
    later row with the same normalised name replaces the earlier one in its place, so Green
    Algorithms rows win over CodeCarbon / ML CO2 Impact ones."""
    rows: dict[str, tuple[str, float | None, float | None, int | None, str]] = {}
    if kind == "CPU":
        for row in data.load_csv("cpu_power.csv"):
            tdp = _num(row["TDP"])
            if tdp:
                rows[normalise(row["Name"])] = (row["Name"], tdp, None, None, "cpu_power.csv")
        for row in data.load_csv("TDP_cpu.csv", skip_lines=1):
            if row["model"] == "Any":
                continue
            cores = _num(row["n_cores"])
            rows[normalise(row["model"])] = (
                row["model"],
                _num(row["TDP"]),
                _num(row["TDP_per_core"]),
                int(cores) if cores else None,
                "TDP_cpu.csv",
            )
        return rows
    for row in data.load_csv("mlco2_gpus.csv"):
        tdp = _num(row["tdp_watts"])
        if tdp and row["type"] == "gpu":
            rows[normalise(row["name"])] = (row["name"], tdp, None, None, "mlco2_gpus.csv")
    for row in data.load_csv("TDP_gpu.csv", skip_lines=1):
        tdp = _num(row["TDP_per_core"])
        if row["model"] != "Any" and tdp:
            rows[normalise(row["model"])] = (row["model"], tdp, None, None, "TDP_gpu.csv")
    return rows


def _build_index(kind: str) -> str:
    """The index of ``kind``'s tables: a header line, then one tab-separated line per
    normalised name (key, name, TDP W, W per core, cores, source CSV) in table order."""
    rows = _table_rows(kind)
    sources = ", ".join(sorted({row[4] for row in rows.values()}))
    lines = [
        f"# {kind} TDP index derived from {sources} by `python -m impactlib.meters.tdp "
        "--write-index`; do not edit. Columns: normalised name, name, TDP W, W per core, "
        "cores, source table."
    ]
    for key, row in rows.items():
        lines.append("\t".join([key, *("" if v is None else str(v) for v in row)]))
    return "\n".join(lines) + "\n"


def write_index() -> Path:
    """Rewrite ``data/cpu_index.tsv`` from the bundled CPU tables (after updating them)."""
    path = Path(data.__file__).with_name(_CPU_INDEX)
    path.write_text(_build_index("CPU"), encoding="utf-8", newline="\n")
    return path


@cache
def _index(kind: str) -> bytes:
    """The index as UTF-8 bytes. They are searched as they are: in a fresh process, decoding
    ~300 kB to text would cost more than the lookup."""
    return data.read_bytes(_CPU_INDEX) if kind == "CPU" else _build_index(kind).encode()


def _utf8(text: str) -> bytes:
    # Lone surrogates become bytes that never occur in the (valid UTF-8) index: no match.
    return text.encode("utf-8", "surrogatepass")


def _line_of(index: bytes, key: str) -> int:
    """Start of the line whose key is ``key``, or -1. The header line holds no tab."""
    at = index.find(b"\n%s\t" % _utf8(key))
    return at + 1 if at >= 0 else -1


def _lines_with(index: bytes, words: str) -> Iterator[int]:
    """Starts of the lines, in table order, whose key holds the non-empty ``words`` between
    word boundaries (``f" {words} " in f" {key} "``). UTF-8 sequences cannot match from
    inside one another, so a byte match is a character match."""
    needle = _utf8(words)
    at = index.find(needle, index.index(b"\n"))  # after the header line
    while at >= 0:
        start = index.rfind(b"\n", 0, at) + 1
        tab = index.find(b"\t", start)
        end = at + len(needle)
        if end > tab:  # a hit in a later column: go on from the next line
            at = index.find(needle, index.find(b"\n", tab))
        elif index[at - 1] in b"\n " and index[end] in b" \t":
            yield start
            at = index.find(needle, tab)
        else:
            at = index.find(needle, at + 1)


def _key_at(index: bytes, start: int) -> str:
    return index[start : index.find(b"\t", start)].decode()


def _entry(index: bytes, start: int) -> TdpEntry:
    line = index[start : index.find(b"\n", start)].decode()
    name, tdp, per_core, cores, table = line.split("\t")[1:]
    return TdpEntry(name, _num(tdp), _num(per_core), int(cores) if cores else None, _TABLES[table])


def _model_words(key: str) -> set[str]:
    """Words with both a digit and a letter ("h100", "e5"): the ones that name a model."""
    return {w for w in key.split() if any(map(str.isdigit, w)) and any(map(str.isalpha, w))}


def _find(name: str, kind: str, suggest: bool) -> TdpEntry:
    index = _index(kind)
    key = normalise(name)
    words = key.split()
    # The longest run of the query's words that is a table name: the whole query (an exact
    # match), else e.g. "tesla v100 sxm2 32gb" in "tesla v100 sxm2 32gb pcie". Equal lengths
    # go to the earlier table row.
    runs: dict[int, set[str]] = {len(key): {key}}
    for i in range(len(words)):
        for j in range(i + 1, len(words) + 1):
            run = " ".join(words[i:j])
            runs.setdefault(len(run), set()).add(run)
    for length in sorted(runs, reverse=True):
        found = [at for run in runs[length] if (at := _line_of(index, run)) >= 0]
        if found:
            return _entry(index, min(found))
    # The query inside exactly one table name ("v4" in "intel xeon aws 1100 v4")
    containing = list(islice(_lines_with(index, key), 4)) if key else []
    if len(containing) == 1:
        return _entry(index, containing[0])
    # Same model words ("h100", "v4": digits and letters) and the most words in common, when
    # unambiguous. Every model word of such a name is one of the query's, so only names
    # holding one of those are candidates.
    query_words = set(words)
    candidates: dict[str, int] = {}
    for word in _model_words(key):
        for start in _lines_with(index, word):
            name_key = _key_at(index, start)
            if _model_words(name_key) <= query_words:
                candidates[name_key] = start
    scored = sorted(((len(query_words & set(k.split())), k) for k in candidates), reverse=True)
    if scored and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        return _entry(index, candidates[scored[0][1]])
    hint = ""
    if suggest:
        import difflib  # only here: the close matches of an unknown name, for a person

        close = [k for _, k in scored[:4]] or difflib.get_close_matches(
            key, [line.partition(b"\t")[0].decode() for line in index.split(b"\n")[1:-1]], n=4
        )
        starts = [_line_of(index, k) for k in close] or containing
        if starts:
            hint = f"; close matches: {', '.join(_entry(index, s).name for s in starts)}"
    raise UsageError(
        f"unknown {kind} model '{name}'{hint}; "
        f"give a model from the bundled tables or the power directly"
        + (" (--cores N --cpu-w-per-core W)" if kind == "CPU" else " (--gpu-w W)")
    )


def cpu_tdp(name: str, *, suggest: bool = True) -> TdpEntry:
    """The TDP row of a CPU model; :class:`UsageError` if unknown, naming close matches when
    ``suggest`` (finding them takes tens of milliseconds, too slow for tracker start-up)."""
    return _find(name, "CPU", suggest)


def gpu_tdp(name: str) -> TdpEntry:
    """The TDP row of a GPU model; :class:`UsageError` with close matches if unknown."""
    return _find(name, "GPU", True)


def models(kind: str, query: str = "") -> list[TdpEntry]:
    """The rows of ``kind``'s tables (``"CPU"`` or ``"GPU"``) whose name holds every word of
    ``query``, in table order; all rows for an empty query. This is how a family name such as
    ``A100`` finds its variants and how ``impactlib estimate --list-gpus`` filters.

    Model words (letters and digits: ``a100``, ``e5``) must match a whole word, so ``A10``
    is not an ``A100``; other words may start one (``sxm`` finds ``sxm4``, ``61`` finds
    ``6148``). Decoding every line costs tens of milliseconds for the CPU tables: this is for
    people asking, never for a tracker starting up.
    """
    wanted = normalise(query).split()
    whole = _model_words(" ".join(wanted))
    index = _index(kind)
    found = []
    start = index.index(b"\n") + 1  # after the header line
    while start < len(index):
        words = _key_at(index, start).split()
        if all(w in words if w in whole else any(k.startswith(w) for k in words) for w in wanted):
            found.append(_entry(index, start))
        start = index.index(b"\n", start) + 1
    return found


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-index"]:
        raise SystemExit("usage: python -m impactlib.meters.tdp --write-index")
    print(f"wrote {write_index()}")
