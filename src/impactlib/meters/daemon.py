"""The tracker's side of ``impactlib serve``: measured CPU energy for a user who cannot read RAPL.

Where the RAPL counters are root-only and a daemon answers on ``daemon_socket``, a tracker
asks the daemon, at its checkpoints only, for the energy attributed to *this process's tree*
(``GET /v1/processes/self``: the daemon knows the caller by the socket's peer credentials, so
a tracker inside a container, whose own PID means nothing to the daemon, is served the
same; the answer also names the container, which the container's own cgroup namespace may
hide from the tracker): the daemon has already split every interval between every
process with the same arithmetic a tracker uses, so the answer is this tree's own share,
``method="daemon"``, ``quality="attributed"``. The meter reads nothing at the sampler's ticks
(``reads_at_tick`` is False), so a tracked minute costs a few socket round trips.

The client is a few lines of HTTP/1.0 over ``AF_UNIX`` rather than ``http.client``: the
tracker's path must stay light, and the daemon answers one JSON object per connection.
Every failure is a gap (the next answer covers it), never an exception into the user's
program; a daemon restarted meanwhile counts again from zero, which the counter
accumulator takes as a reset (that interval is lost, and the record says so).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ..errors import MeterUnavailable
from ..footprint import Component, Container, ContainerRuntime, Extent, FloorSource, Method, Quality
from .base import CounterAccumulator, Domain, Meter, ServedFloor, Tick, counter_diagnostics

TIMEOUT_S = 1.0  # the daemon answers well within this; a tracker must never wait long
MAX_ANSWER = 1 << 20
REUSE_S = 0.05  # answers this recent serve every tick decoded in the same batch
# What a tracker takes from the daemon (it reads GPUs itself): what root alone may read,
# RAPL and the wall (the platform: wall - RAPL - GPUs - modelled lines, daemon-side).
SERVED = (Component.CPU, Component.DRAM, Component.PLATFORM)
INSTALL_FIX = (
    "ask an admin to run `impactlib serve` (docs/daemon.md): every user then gets the "
    "measured energy of their own processes, without opening the counters to anyone"
)


class Answer(NamedTuple):
    """One HTTP answer of the daemon."""

    status: int
    body: dict[str, Any]


def ask(path: str, what: str, timeout_s: float = TIMEOUT_S) -> Answer:
    """``GET what`` on the daemon's socket; ``OSError``/``ValueError`` when it cannot."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(path)
        # Refused before it was asked (429): the answer already sent says why.
        with contextlib.suppress(BrokenPipeError):
            sock.sendall(f"GET {what} HTTP/1.0\r\n\r\n".encode("ascii"))
        chunks: list[bytes] = []
        size = 0
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER:
                raise ValueError("answer too large")
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    parsed = json.loads(body)
    if not isinstance(parsed, dict):
        raise ValueError("answer is not a JSON object")
    return Answer(status, parsed)


class _Served(NamedTuple):
    domain: Domain
    accumulator: CounterAccumulator


class DaemonMeter(Meter):
    """Energy of the tree rooted at ``pid`` (default: this process, as the daemon knows it
    from the connection; a ``pid`` is one of this PID namespace), from the daemon."""

    name = "daemon"
    reads_at_tick = False

    def __init__(self, path: str, pid: int | None = None) -> None:
        self.path = path
        self.pid = os.getpid() if pid is None else pid
        self._question = f"/v1/processes/{'self' if pid is None else pid}"
        self._container: Container | None = None
        self._failed = 0
        self._cached: tuple[float, dict[str, float]] | None = None
        self._floors: dict[str, ServedFloor] = {}  # from the latest answer
        first = self._first_answer()
        self._served = {
            domain_id: _Served(_domain(domain_id, info, path), CounterAccumulator())
            for domain_id, info in first.items()
            if info.get("component") in SERVED and info.get("quality") == Quality.MEASURED
        }
        if not any(s.domain.component is not Component.PLATFORM for s in self._served.values()):
            raise MeterUnavailable(
                "daemon", f"the daemon at {path} measures no CPU or DRAM domain", INSTALL_FIX
            )
        for domain_id, served in self._served.items():
            served.accumulator.update(float(first[domain_id].get("energy_j", 0.0)))
        self._keep_floors(first)

    def _keep_floors(self, domains: Mapping[str, Any]) -> None:
        for domain_id in self._served:
            info = domains.get(domain_id)
            floor = _floor(info) if isinstance(info, dict) else None
            if floor is not None:
                self._floors[domain_id] = floor

    def served_floors(self) -> Mapping[str, ServedFloor]:
        """The daemon's idle floor per domain, as its latest answer gave it."""
        return dict(self._floors)

    def _first_answer(self) -> dict[str, dict[str, Any]]:
        try:
            answer = ask(self.path, self._question)
        except FileNotFoundError as exc:
            raise MeterUnavailable(
                "daemon", f"no daemon socket at {self.path}", INSTALL_FIX
            ) from exc
        except (OSError, ValueError, IndexError) as exc:
            raise MeterUnavailable(
                "daemon", f"the daemon at {self.path} does not answer ({exc})", INSTALL_FIX
            ) from exc
        if answer.status != 200:
            error = answer.body.get("error", f"HTTP {answer.status}")
            raise MeterUnavailable("daemon", f"the daemon at {self.path} refused: {error}")
        domains = answer.body.get("domains")
        if not isinstance(domains, dict):
            raise MeterUnavailable("daemon", f"the daemon at {self.path} sent no domains")
        self._container = _container(answer.body.get("container"))
        return domains

    def container(self) -> Container | None:
        """The container the daemon saw this process in (None: none, or an older daemon)."""
        return self._container

    def domains(self) -> Sequence[Domain]:
        """The daemon's CPU, DRAM and platform domains, as attributed to this tree."""
        return [served.domain for served in self._served.values()]

    def read_energy_j(self) -> Mapping[str, float]:
        """Joules attributed to the tree since the meter was opened (empty on a failure)."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < REUSE_S:
            return self._cached[1]
        try:
            answer = ask(self.path, self._question)
            domains = answer.body["domains"] if answer.status == 200 else None
        except (OSError, ValueError, IndexError, KeyError):
            domains = None
        if not isinstance(domains, dict):
            self._failed += 1
            return {}
        energy: dict[str, float] = {}
        for domain_id, served in self._served.items():
            info = domains.get(domain_id)
            if isinstance(info, dict) and isinstance(info.get("energy_j"), (int, float)):
                energy[domain_id] = served.accumulator.update(float(info["energy_j"]))
        self._keep_floors(domains)
        self._cached = (now, energy)
        return energy

    def capture(self) -> None:
        """Nothing at the tick: the daemon is asked when the samples are decoded."""

    def decode(self, captured: object, tick: Tick) -> Mapping[str, float]:
        """The tree's energy now (asked once per batch of ticks)."""
        return self.read_energy_j()

    def diagnostics(self) -> list[str]:
        """Failed questions (covered by the next answer) and daemon restarts (an interval
        lost each)."""
        lines: list[str] = []
        for domain_id, served in self._served.items():
            lines += counter_diagnostics(
                domain_id, served.accumulator, 0, "the daemon restarted and counts from zero"
            )
        if self._failed:
            lines.append(
                f"daemon: {self._failed} question(s) to {self.path} failed; the next answer "
                "covered the missed time"
            )
        return lines


def _container(data: object) -> Container | None:
    """The daemon's ``container`` field; None for none or one this version cannot read."""
    if not isinstance(data, dict):
        return None
    try:
        runtime = ContainerRuntime(str(data["runtime"]))
        return Container(runtime, str(data["id"]), str(data.get("pod", "")))
    except (KeyError, ValueError):
        return None


def _floor(info: Mapping[str, Any]) -> ServedFloor | None:
    """The idle floor of one domain of the daemon's answer (None: none this version knows)."""
    source, watts = info.get("floor_source"), info.get("floor_w")
    if source not in {s.value for s in FloorSource} or not isinstance(watts, (int, float)):
        return None
    return ServedFloor(float(watts), FloorSource(source))


def _domain(domain_id: str, info: Mapping[str, Any], path: str) -> Domain:
    method = info.get("method", "?")
    component = info.get("component")
    return Domain(
        id=domain_id,
        component=Component(component) if component in SERVED else Component.CPU,
        method=Method.DAEMON,
        extent=Extent.MACHINE,
        quality=Quality.ATTRIBUTED,
        note=f"attributed to this process tree by impactlib serve at {path}; measured by {method}",
    )
