"""docs/containers.md's "Try it without a runtime", run as written against a real daemon
reading the real ``/proc``: a tracker in its own PID, mount and cgroup namespace, through a
read-only socket, without privileges, is served and names its container."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from daemonhost import NOBODY, needs_root, public_dir, python_for, serve
from powercap import FakePowercap

from impactlib.store import open_store

DOC = Path(__file__).parents[2] / "docs" / "containers.md"
CPU = "cpu:package-0"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason=needs_root),
    pytest.mark.skipif(
        not (shutil.which("unshare") and shutil.which("setpriv")),
        reason="util-linux's unshare and setpriv make the namespaces",
    ),
]


def doc_block(heading: str) -> str:
    """The first ``sh`` block under ``heading`` in docs/containers.md."""
    text = DOC.read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found is not None, f"no sh block under {heading!r}"
    return found.group(1)


def test_the_docs_try_it_block_is_served_and_names_its_container(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path / "sys")
    fake.add_package(0)
    with public_dir() as public:
        home, bin_dir = public / "home", public / "bin"
        home.mkdir()
        os.chown(home, NOBODY, NOBODY)
        bin_dir.mkdir()
        # `impactlib` on the PATH, as `pip install impactlib` puts it, for nobody too
        wrapper = bin_dir / "impactlib"
        command = " ".join(f"'{part}'" for part in python_for(NOBODY))
        wrapper.write_text(f'#!/bin/sh\nexec {command} -m impactlib.cli.main "$@"\n')
        wrapper.chmod(0o755)
        args = ["--powercap-root", str(fake.root), "--interval", "0.25", "--metrics-address", ""]
        args += ["--store", str(public / "daemon.db")]
        store = home / "store.db"
        env = {
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home),
            "SOCK_DIR": str(public / "run"),
            "IMPACTLIB_STORE": str(store),
            "IMPACTLIB_DAEMON_SOCKET": str(public / "run" / "impactlib.sock"),
            "IMPACTLIB_POWERCAP_ROOT": str(public / "masked"),  # as a runtime masks it
            "IMPACTLIB_COUNTRY": "FR",
            "IMPACTLIB_INTENSITY_SOURCE": "static",
        }
        with (
            serve(args, {}, public / "run" / "impactlib.sock"),
            fake.drive(CPU, 40.0),
        ):
            (public / "run").chmod(0o755)
            done = subprocess.run(
                ["bash", "-c", doc_block("Try it without a runtime")],
                env=env,
                cwd="/",
                capture_output=True,
                text=True,
                timeout=300,
            )
        ident = re.search(r"container id: ([0-9a-f]{64})", done.stdout)
        assert ident is not None, (done.stdout, done.stderr)
        for parent in (Path("/sys/fs/cgroup/pids/docker"), Path("/sys/fs/cgroup/docker")):
            for path in (parent / ident.group(1), parent):  # the parent: if nobody else's
                with contextlib.suppress(OSError):
                    path.rmdir()
        assert done.returncode == 0, done.stderr
        (record,) = open_store(str(store)).list_runs()
        summary = record.summary()
        assert summary["container"] == {"runtime": "docker", "id": ident.group(1), "pod": ""}
        (cpu,) = [c for c in summary["components"] if c["component"] == "cpu"]
        assert (cpu["method"], cpu["quality"]) == ("daemon", "attributed"), done.stderr
        assert cpu["energy_j"] > 0.0
        assert record.user == "nobody"
