"""A real ``impactlib serve`` for tests: in this process (a thread) or as a subprocess, over a
fake powercap tree, with a socket other users can reach.

CI runs as root, so tests that need another user drop privileges in a child
(``subprocess.run(..., user=NOBODY)``); such a child must be able to reach the socket, which
a pytest ``tmp_path`` (mode 0700) would hide, hence :func:`public_dir`; such a user's
tracker gets a home of its own (:func:`user_home`, :func:`user_env`).

:func:`calibrated_host` and :func:`serve_host` are the daemon over :class:`fakelab.ScriptedHost`
drawing ``IDLE_W`` plus ``W_PER_CPU`` per busy CPU of the watched processes' own CPU time: the
same work costs the same however busy the machine is, and :func:`truth_j` is its energy.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from fakelab import PACKAGE, ScriptedHost

from impactlib.attribution.power_model import DomainPowerModel, HostPowerModel, save_power_model
from impactlib.config import Config, load_config
from impactlib.identity import host_name
from impactlib.meters.daemon import ask
from impactlib.server.api import ApiServer
from impactlib.server.daemon import Daemon

NOBODY = 65534
OTHER_UID = 65533  # unused on CI images: a second unprivileged user
needs_root = "root (CI) is needed to run children as other users"

IDLE_W, W_PER_CPU = 10.0, 15.0
# The fake host's CPUs: room to spare for every watched process at once, so that its
# ``stat`` never caps their CPU time (a cap would make power and load disagree).
CPUS = 8


@functools.cache
def python_for(uid: int) -> tuple[str, ...]:
    """A command line that starts this Python, with impactlib and its dependencies, as
    ``uid``: this interpreter where that user may run it, else the system's of the same
    version with this one's import path (a venv under root's 0700 home is out of reach)."""
    import impactlib

    paths = [str(Path(impactlib.__file__).parents[1]), *(p for p in sys.path if p)]
    env_path = os.pathsep.join(dict.fromkeys(paths))
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for exe in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        command = ("/usr/bin/env", f"PYTHONPATH={env_path}", exe)
        try:
            done = subprocess.run(
                [
                    *command,
                    "-c",
                    "import impactlib.cli.main, platform; print(platform.python_version())",
                ],
                user=uid,
                group=uid,
                cwd="/",
                capture_output=True,
                text=True,
                timeout=60,
            )
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.startswith(version):
            return command
    raise AssertionError(f"no Python {version} that uid {uid} may run")


@contextmanager
def public_dir() -> Iterator[Path]:
    """A temporary directory every local user can traverse (0755)."""
    path = Path(tempfile.mkdtemp(prefix="impactlib-test-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_calibrated_model(path: Path, domain: str, idle_w: float, w_per_cpu: float) -> None:
    """A host power model file as ``impactlib calibrate`` writes it (the fake host's truth)."""
    model = DomainPowerModel(
        domain, idle_w, w_per_cpu, "calibrated", "2026-01-01T00:00:00Z", 1.0, 60, 0.0, 2.0
    )
    model_config = load_config({"power_model": str(path)})
    save_power_model(HostPowerModel(host_name(), {domain: model}), model_config)


class InProcess(NamedTuple):
    """A daemon and its API, served from a thread of this process."""

    daemon: Daemon
    api: ApiServer
    socket: str


@contextmanager
def in_process(config: Config) -> Iterator[InProcess]:
    """Serve ``config.daemon_socket`` from a thread; the caller ticks the daemon."""
    daemon = Daemon(config)
    daemon.tick()
    api = ApiServer(config.daemon_socket, daemon)
    thread = threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield InProcess(daemon, api, config.daemon_socket)
    finally:
        api.shutdown()
        thread.join()
        api.server_close()
        daemon.close()


def daemon_config(powercap_root: Path, socket: Path, **more: object) -> Config:
    """A daemon's configuration for tests (no exporter unless asked)."""
    values = {
        "powercap_root": str(powercap_root),
        "daemon_socket": str(socket),
        "interval": 0.25,
        "metrics_address": "",
        **more,
    }
    return load_config(values)


class Served(NamedTuple):
    """A daemon running as a subprocess."""

    process: subprocess.Popen[str]
    socket: str
    metrics_url: str | None


@contextmanager
def serve(args: list[str], env: dict[str, str], socket: Path | None = None) -> Iterator[Served]:
    """``impactlib serve [--socket SOCKET] ARGS`` until the block ends (SIGTERM, then wait);
    the socket and metrics URL are read from what it prints when ready."""
    flags = ["--socket", str(socket)] if socket is not None else []
    process = subprocess.Popen(
        [sys.executable, "-m", "impactlib.cli.main", "serve", *flags, *args],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    url = path = None
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 30
        while path is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                raise AssertionError(f"impactlib serve ended early (exit {process.wait()})")
            metrics = re.search(r"metrics on (\S+)", line)
            url = metrics.group(1) if metrics else url
            answering = re.search(r"answering on (\S+)", line)
            path = answering.group(1) if answering else None
        assert path is not None, "impactlib serve did not say where it answers"
        yield Served(process, path, url)
    finally:
        process.terminate()
        process.wait(timeout=30)


def truth_j(cpu_s: float) -> float:
    """Energy of ``cpu_s`` CPU-seconds under the usage policy on :func:`calibrated_host`."""
    return W_PER_CPU * cpu_s + IDLE_W * cpu_s / CPUS


@contextmanager
def calibrated_host() -> Iterator[tuple[Path, ScriptedHost]]:
    """A public directory with the fake host (its package draws with the watched processes'
    CPU time), and the host power model ``impactlib calibrate`` would have written for it."""
    with public_dir() as public:
        write_calibrated_model(public / "model.json", PACKAGE, IDLE_W, W_PER_CPU)
        with ScriptedHost(public / "h", IDLE_W, W_PER_CPU, cpus=CPUS, cpu_per_process=None) as fake:
            yield public, fake


@contextmanager
def serve_host(public: Path, fake: ScriptedHost, metrics_address: str) -> Iterator[Served]:
    """``impactlib serve`` as root over :func:`calibrated_host`'s host and model, answering on
    ``public/impactlib.sock`` and storing in ``public/store.db``."""
    args = ["--powercap-root", str(fake.powercap.root), "--interval", "0.25"]
    args += ["--metrics-address", metrics_address, "--store", str(public / "store.db")]
    env = {
        "IMPACTLIB_POWER_MODEL": str(public / "model.json"),
        "IMPACTLIB_PROCFS_ROOT": str(fake.procfs),
    }
    with serve(args, env, public / "impactlib.sock") as served:
        yield served


def machine_balance(sock: str) -> dict[str, Any]:
    """``/v1/machine`` as root sees it, once checked: the package energy charged to every
    user plus the unattributed is the measured."""
    whole: dict[str, Any] = ask(sock, "/v1/machine").body
    measured = whole["domain_energy_j"][PACKAGE]
    charged = sum(user.get(PACKAGE, 0.0) for user in whole["users_j"].values())
    assert charged + whole["unattributed_j"][PACKAGE] == pytest.approx(measured, rel=1e-3)
    return whole


def user_home(folder: Path, uid: int) -> Path:
    """``uid``'s home under ``folder`` (made once, owned by ``uid``): its store, its power
    model, its XDG directories."""
    home = folder / f"home-{uid}"
    if not home.exists():
        home.mkdir()
        os.chown(home, uid, uid)
    return home


def user_env(home: Path, host: ScriptedHost, sock: str) -> dict[str, str]:
    """The environment of a user's tracker on ``host``, served by the daemon at ``sock``:
    everything it keeps under ``home``, the host's powercap tree and ``/proc``, static
    intensities."""
    return {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "IMPACTLIB_STORE": str(home / "store.db"),
        "IMPACTLIB_POWERCAP_ROOT": str(host.powercap.root),
        "IMPACTLIB_PROCFS_ROOT": str(host.procfs),
        "IMPACTLIB_DAEMON_SOCKET": sock,
        "IMPACTLIB_POWER_MODEL": str(home / "model.json"),
        "IMPACTLIB_INTENSITY_SOURCE": "static",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
