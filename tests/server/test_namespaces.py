"""Trackers in their own PID namespace, as every container runtime starts them, served by the
daemon through its socket alone: real namespaces (``unshare --pid --fork --mount-proc``,
what a runtime does), real users (privileges dropped with ``setpriv``), a real cgroup named
as Docker's cgroupfs driver names a container's (``docker/<id>``), and a real daemon.

The host is a :class:`fakelab.ScriptedHost` whose package draws ``IDLE_W + W_PER_CPU`` per
busy CPU of the watched processes' own CPU time (the kernel's count, so the same work costs
the same however busy the machine is); it mirrors their real ``NSpid`` and ``ns/pid``, so
the daemon sees the namespaces the kernel made. Truth for a tree that used ``cpu_s``
CPU-seconds is that script's energy under the usage policy with the host's calibrated idle
floor (what :func:`truth_j` says)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from daemonhost import (
    NOBODY,
    OTHER_UID,
    Served,
    calibrated_host,
    machine_balance,
    needs_root,
    python_for,
    serve_host,
    truth_j,
    user_home,
)
from fakelab import PACKAGE, ScriptedHost

from impactlib.containers import container_of
from impactlib.store import open_store

CONTAINER_ID = "5eed" * 16
CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))  # v1 hierarchy, or v2

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason=needs_root),
    pytest.mark.skipif(
        not (shutil.which("unshare") and shutil.which("setpriv")),
        reason="util-linux's unshare and setpriv make the PID namespaces",
    ),
]

CPU_BURN = "import sys, time\nend = time.process_time() + float(sys.argv[1])\n" + (
    "while time.process_time() < end:\n    pass\ntime.sleep(0.5)\n"
)

# Inside the container: burn in a child, then ask about itself by ``self`` and by its own PID
# (which is this namespace's, 1 here), then each extra question (``UID``: its uid).
CONTAINED_JOB = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    from impactlib.meters.daemon import ask
    sock, burn, seconds = sys.argv[1:4]
    time.sleep(0.5)
    subprocess.run([sys.executable, "-c", burn, seconds], check=True)
    time.sleep(0.6)
    t = os.times()
    questions = ["/v1/processes/self", f"/v1/processes/{os.getpid()}"]
    questions += [q.replace("UID", str(os.getuid())) for q in sys.argv[4:]]
    answers = {}
    for q in questions:
        answer = ask(sock, q)
        answers[q] = [answer.status, answer.body]
    print(json.dumps({
        "pid": os.getpid(),
        "cpu_s": t.user + t.system + t.children_user + t.children_system,
        "answers": answers,
    }))
    """
)


@pytest.fixture
def host() -> Iterator[tuple[Path, ScriptedHost]]:
    with calibrated_host() as made:
        yield made


@pytest.fixture
def daemon(host: tuple[Path, ScriptedHost]) -> Iterator[Served]:
    with serve_host(*host, metrics_address="") as served:
        yield served


@pytest.fixture
def docker_cgroup() -> Iterator[Path]:
    """A real cgroup where Docker's cgroupfs driver puts a container: ``docker/<id>``."""
    root = next((r for r in CGROUP_ROOTS if (r / "cgroup.procs").exists()), None)
    assert root is not None, "no writable cgroup hierarchy (v1 pids, or v2)"
    group = root / "docker" / CONTAINER_ID
    group.mkdir(parents=True, exist_ok=True)
    try:
        yield group
    finally:
        for path in (group, group.parent):
            # still in use by a straggler, or by another test: left to the system
            with contextlib.suppress(OSError):
                path.rmdir()


class Container(NamedTuple):
    """A container's outermost process: the ``unshare`` that made its namespace."""

    process: subprocess.Popen[str]

    def result(self) -> dict[str, Any]:
        out, _ = self.process.communicate(timeout=120)
        assert self.process.returncode == 0, out
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result


def contain(
    fake: ScriptedHost,
    uid: int,
    command: list[str],
    *,
    cgroup: Path | None = None,
    root_init: bool = False,
    env: dict[str, str] | None = None,
) -> Container:
    """``command`` as ``uid`` in a new PID namespace (its own ``/proc``), optionally in the
    real ``cgroup``; with ``root_init`` the namespace's PID 1 is a root shell (as a
    container's init), else the command itself is PID 1."""
    drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    inner = [*drop, *command]
    if root_init:
        inner = ["sh", "-c", '"$@"; exit $?', "init", *inner]
    outer = ["unshare", "--pid", "--fork", "--mount-proc", "--cgroup", *inner]

    def enter_cgroup() -> None:  # in the child, before exec: every descendant inherits it
        if cgroup is not None:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    process = subprocess.Popen(
        outer,
        cwd="/",
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=enter_cgroup,  # noqa: PLW1509 - a single-threaded moment of the child
    )
    real_cgroup = Path(f"/proc/{process.pid}/cgroup").read_text()
    fake.watch(process.pid, cgroup=real_cgroup)
    return Container(process)


def test_a_contained_job_is_served_its_own_tree_and_nothing_else(
    host: tuple[Path, ScriptedHost], daemon: Served, docker_cgroup: Path
) -> None:
    """A job in its own PID namespace and a real Docker-named cgroup asks about itself: the
    daemon knows it by the peer credentials (its PID there is 1, another process here) and
    answers its energy within 5 % of the truth, naming its container; another user's
    container, started beside it, gets nothing of it, nor of the machine."""
    _, fake = host
    job = [*python_for(NOBODY), "-c", CONTAINED_JOB, daemon.socket, CPU_BURN, "2"]
    mine = contain(fake, NOBODY, job, cgroup=docker_cgroup)
    # Another user's container (its PID 1 a root shell, as a runtime's init), which asks
    # about the first one's host PID, its own PID 1, the machine and the per-user view.
    theirs_job = [*python_for(OTHER_UID), "-c", CONTAINED_JOB, daemon.socket, CPU_BURN, "0.5"]
    theirs_job += [f"/v1/processes/{mine.process.pid}", "/v1/processes/1"]
    theirs_job += ["/v1/machine", "/v1/users/UID"]
    theirs = contain(fake, OTHER_UID, theirs_job, root_init=True)
    result, other = mine.result(), theirs.result()

    assert result["pid"] == 1  # the namespace's own numbering: useless to the daemon as such
    status, body = result["answers"]["/v1/processes/self"]
    assert status == 200, body
    energy = body["domains"][PACKAGE]["energy_j"]
    assert energy == pytest.approx(truth_j(result["cpu_s"]), rel=0.05), result
    assert body["pid"] == 1 and body["uid"] == NOBODY
    assert body["container"] == {"runtime": "docker", "id": CONTAINER_ID, "pod": ""}
    # its own PID, a hint read in its own namespace, names the same tree
    hinted_status, hinted = result["answers"]["/v1/processes/1"]
    assert hinted_status == 200 and hinted["pid"] == 1
    assert hinted["domains"][PACKAGE]["energy_j"] >= energy

    answers = {q: a[0] for q, a in other["answers"].items()}
    assert answers["/v1/processes/self"] == 200  # served too, in its own namespace
    here = container_of("/proc", os.getpid())  # the second stayed in the test's cgroup
    expected = dict(vars(here)) if here is not None else None
    assert other["answers"]["/v1/processes/self"][1]["container"] == expected
    # the first container's host PID means nothing in the second's namespace
    assert answers[f"/v1/processes/{mine.process.pid}"] == 404
    assert answers["/v1/processes/1"] == 403  # its PID 1 is root's, not this user's
    assert answers["/v1/machine"] == 403
    assert answers[f"/v1/users/{OTHER_UID}"] == 403  # a uid in a container may be another's

    whole = machine_balance(daemon.socket)  # root of the host sees all
    # The container holds all of its user's work, and besides it only root's `unshare` (the
    # runtime's part, as a real runtime's shim would be): its energy lies between the two.
    boxed = whole["containers_j"][f"docker:{CONTAINER_ID}"][PACKAGE]
    users = {uid: energy.get(PACKAGE, 0.0) for uid, energy in whole["users_j"].items()}
    assert users[str(NOBODY)] * (1 - 1e-6) <= boxed
    assert boxed <= (users[str(NOBODY)] + users.get("0", 0.0)) * (1 + 1e-6)


def test_root_inside_a_container_sees_its_container_not_the_machine(
    host: tuple[Path, ScriptedHost], daemon: Served
) -> None:
    """Root in a container (uid 0 on the host, as Docker runs without a user namespace) is
    root of its namespace only: its own processes, not the machine's nor the host's PIDs."""
    _, fake = host
    job = [*python_for(0), "-c", CONTAINED_JOB, daemon.socket, CPU_BURN, "0.3"]
    job += [f"/v1/processes/{os.getpid()}", "/v1/machine", "/v1/users/0"]
    result = contain(fake, 0, job).result()
    answers = {q: a[0] for q, a in result["answers"].items()}
    assert answers["/v1/processes/self"] == 200 and answers["/v1/processes/1"] == 200
    assert answers[f"/v1/processes/{os.getpid()}"] == 404  # the test's host PID: not there
    assert answers["/v1/machine"] == 403 and answers["/v1/users/0"] == 403


def test_an_unprivileged_run_in_a_container_records_daemon_energy_and_its_container(
    host: tuple[Path, ScriptedHost], daemon: Served, docker_cgroup: Path
) -> None:
    """``impactlib run`` in a container with only the daemon's socket (no powercap tree, no
    privileges, a private cgroup namespace that hides the container's name from inside):
    measured CPU energy from the daemon, and the record names the container."""
    public, fake = host
    home = user_home(public, NOBODY)
    python = python_for(NOBODY)
    env = {
        "HOME": str(home),
        "IMPACTLIB_DAEMON_SOCKET": daemon.socket,
        "IMPACTLIB_POWERCAP_ROOT": str(public / "masked-powercap"),  # as Docker masks it
        "IMPACTLIB_POWER_MODEL": str(home / "model.json"),
        "IMPACTLIB_STORE": str(home / "store.db"),
        "IMPACTLIB_COUNTRY": "FR",
        "IMPACTLIB_INTENSITY_SOURCE": "static",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    command = [*python, "-m", "impactlib.cli.main", "run", "--", python[-1], "-c", CPU_BURN, "4"]
    contain(fake, NOBODY, command, cgroup=docker_cgroup, env=env).process.communicate(timeout=120)
    (record,) = open_store(str(home / "store.db")).list_runs()
    assert record.footprint is not None
    (cpu,) = [c for c in record.footprint.components if c.component == "cpu"]
    assert (cpu.domain, cpu.method, cpu.quality) == (PACKAGE, "daemon", "attributed")
    cpu_s = record.footprint.cpu_hours * 3600
    assert cpu_s == pytest.approx(4.0, rel=0.1)
    # the daemon counts the tracker's own start-up too (tens of ms of CPU): as for a run
    # outside a container (tests/cli/test_serve.py), 10 % covers it
    assert cpu.energy_j == pytest.approx(truth_j(cpu_s), rel=0.10)
    container = record.footprint.container
    assert container is not None and (container.runtime, container.id) == ("docker", CONTAINER_ID)
    # as `impactlib report --format json` shows it
    assert record.summary()["container"] == {"runtime": "docker", "id": CONTAINER_ID, "pod": ""}
