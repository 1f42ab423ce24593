"""The HTML report opens in headless Chromium with no network and shows its charts."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from renderhelp import render
from sample_runs import sample

from impactlib.report import html

CHROMIUM = next(
    (
        p
        for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
        if p and Path(p).exists()
    ),
    None,
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # no network at all: every host resolves nowhere
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered rows of an 8-bit RGB/RGBA PNG (enough for a screenshot)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour_type in (2, 6)
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        ftype, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            a = cur[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                cur[i] = (cur[i] + a) & 0xFF
            elif ftype == 2:
                cur[i] = (cur[i] + b) & 0xFF
            elif ftype == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (cur[i] + pred) & 0xFF
        rows.append(bytes(cur))
        prev = cur
    return width, height, [bytes(r[i : i + 3]) for r in rows for i in range(0, stride, channels)]


def run_chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_renders_with_charts(tmp_path: Path) -> None:
    records, series, g = sample()
    page = tmp_path / "report.html"
    page.write_text(render(html, records, series, g), encoding="utf-8")
    shot = tmp_path / "report.png"
    result = run_chromium(
        [f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()], tmp_path
    )
    assert shot.exists(), result.stderr[-2000:]
    width, height, pixels = decode_png(shot.read_bytes())
    assert (width, height) == (1200, 2000)
    counts: dict[bytes, int] = {}
    for px in pixels:
        counts[px] = counts.get(px, 0) + 1
    assert len(counts) > 50  # text anti-aliasing and charts, not a blank page
    # the component colours of the charts are painted (CPU blue, GPU green, DRAM orange)
    for hex_colour in ("3b6fb6", "3a9d5d", "e08a2e"):
        assert counts.get(bytes.fromhex(hex_colour), 0) > 100, hex_colour
    # keep the picture for people to look at
    out = Path(__file__).parent.parent / "output"
    if out.is_dir():
        shutil.copy(shot, out / "report.png")

    dom = run_chromium(["--dump-dom", page.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") == 3
    assert dom.stdout.count("<polyline") >= 6 and 'class="bar"' in dom.stdout


def test_report_fits_1280_pixels(tmp_path: Path) -> None:
    records, series, g = sample()
    # the widest figures table: every optional column, long project names
    records = [replace(r, project=f"{r.project}-with-a-long-name") for r in records]
    page = render(html, records, series, g)
    # a test-only probe: the page's own width, written where --dump-dom shows it
    probe = "<script>document.title = 'width=' + document.documentElement.scrollWidth</script>"
    path = tmp_path / "probe.html"
    path.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    dom = run_chromium(["--window-size=1280,900", "--dump-dom", path.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    width = re.search(r"<title>width=(\d+)</title>", dom.stdout)
    assert width is not None, dom.stdout[:500]
    assert int(width[1]) <= 1280
