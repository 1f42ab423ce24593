"""A real one-node SLURM cluster with accounting, started once per test session.

The SLURM support is only right if it is right against SLURM itself: a fake ``sacct`` models
one version's output as its author read the documentation, a real cluster gives what SLURM
writes (``required.memory`` on 22.05, ``CANCELLED by 0``, a batch shell that alone gets the
SIGTERM of ``scancel``). This fixture installs nothing: it uses Debian's ``slurm-wlm``,
``slurmdbd``, ``mariadb-server`` and ``munge`` where they are installed (``.ci/run`` installs
them), and skips with its reason where they are not, except on CI (``CI=true``), where a
missing piece fails the run.

Every daemon runs as root on 127.0.0.1, in the background, from files in one temporary
directory, and is stopped by its PID at the end, even when starting failed: ``munged`` (its
own key and socket), ``mariadbd`` (its own data directory, port and socket), ``slurmdbd``,
``slurmctld`` and ``slurmd`` (``proctrack/cgroup`` and ``jobacct_gather/cgroup`` where the
machine has cgroup v1 hierarchies, as Debian 12's 22.05 runs them; ``proctrack/linuxproc``
and ``jobacct_gather/linux`` otherwise). Job ids start at a random number, so that two test
runs on one machine never share a job's cgroup directory.

Jobs are submitted by two unprivileged users (created with ``useradd`` if absent), each with
a home of their own in the temporary directory: their default store is
``~/.local/share/impactlib/impactlib.db`` there. Their ``impactlib`` is this checkout's,
run by the test's interpreter, or, where the users cannot execute it (a virtual environment
made from an interpreter under root's home), by a system interpreter of the same version
with this environment's packages on ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import re
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import NamedTuple, NoReturn

import pytest

CLUSTER = "testcluster"
PARTITION = "debug"
ACCOUNTS = {"lab": None, "physics": "lab"}  # account -> parent
USERS = {"impactlib-alice": "lab", "impactlib-bob": "physics"}  # user -> default account
ALICE, BOB = USERS
START_LIMIT_S = 60.0
PROGRAMS = {  # program -> the Debian package that brings it
    "munged": "munge",
    "mariadbd": "mariadb-server",
    "mariadb-install-db": "mariadb-server",
    "slurmdbd": "slurmdbd",
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sacctmgr": "slurm-client",
    "sbatch": "slurm-client",
    "sacct": "slurm-client",
    "squeue": "slurm-client",
    "scancel": "slurm-client",
    "sinfo": "slurm-client",
    "srun": "slurm-client",
}
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNFINISHED = ("PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED", "COMPLETING")
# The users' ``impactlib``: the console script's entry point, run by their interpreter.
CLI_MAIN = "import sys; from impactlib.cli.main import main; sys.argv[0] = 'impactlib'; main()"
V1_CONTROLLERS = ("cpuacct", "memory", "cpuset", "freezer")


class ClusterUnavailable(Exception):
    """The machine cannot run the cluster (a package, root, a user's access): the reason."""


def unavailable(reason: str) -> NoReturn:
    """Skip locally; fail on CI, where ``.ci/run`` installed everything the cluster needs."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"real SLURM cluster: {reason}", pytrace=False)
    pytest.skip(f"real SLURM cluster: {reason}")


class UserPython(NamedTuple):
    """How the unprivileged users run this checkout's Python code."""

    executable: str
    pythonpath: str | None  # None: the executable's own environment already has impactlib


@dataclass(frozen=True)
class Ports:
    """The TCP ports of the cluster's servers, all on 127.0.0.1."""

    slurmctld: int
    slurmd: int
    slurmdbd: int
    mariadb: int


@dataclass
class SlurmCluster:
    """A running one-node cluster: submit jobs as its users, wait for them, read sacct."""

    base: Path
    node: str
    cpus: int
    ports: Ports
    python: UserPython
    cgroups: bool  # proctrack/cgroup with cgroup v1; else proctrack/linuxproc
    gather: str = "cgroup"  # the jobacct_gather plugin in use: "cgroup" or "linux"
    started_in_s: float = 0.0
    _first_id: int = 0
    _hardware: str = ""
    _daemons: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # -- paths and environments ------------------------------------------------------------

    @property
    def conf(self) -> Path:
        return self.base / "etc" / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.base / "munge" / "run" / "munge.sock"

    @property
    def bin(self) -> Path:
        """What the users' jobs find on their PATH: ``impactlib`` and ``python``."""
        return self.base / "bin"

    @property
    def share(self) -> Path:
        """World-readable files for the jobs (workloads)."""
        return self.base / "share"

    def home(self, user: str) -> Path:
        return self.base / "home" / user

    def store_of(self, user: str) -> Path:
        """The user's default store, where their tracked jobs are recorded."""
        return self.home(user) / ".local" / "share" / "impactlib" / "impactlib.db"

    @property
    def env(self) -> dict[str, str]:
        """The environment of SLURM's commands run as root (``sacct``, ``impactlib slurm``)."""
        return {"PATH": SYSTEM_PATH, "SLURM_CONF": str(self.conf), "LANG": "C.UTF-8"}

    def user_env(self, user: str) -> dict[str, str]:
        """A user's login-like environment: SLURM exports it into their jobs."""
        env = self._login_env(user)
        if self.python.pythonpath:
            env["PYTHONPATH"] = self.python.pythonpath
        return env

    def _login_env(self, user: str) -> dict[str, str]:
        """A home of their own and nothing inherited: no settings, config file or power
        model of this machine's root reaches the cluster's commands."""
        home = self.home(user)
        return {
            "PATH": f"{self.bin}:{SYSTEM_PATH}",
            "SLURM_CONF": str(self.conf),
            "LANG": "C.UTF-8",
            "USER": user,
            "LOGNAME": user,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "IMPACTLIB_POWER_MODEL": str(home / "power-model.json"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    # -- commands --------------------------------------------------------------------------

    def run_as(
        self, user: str, argv: Sequence[str], *, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as ``user`` in their home with their environment."""
        return subprocess.run(
            ["runuser", "-u", user, "--", "env", "-i", *_assignments(self.user_env(user)), *argv],
            cwd=self.home(user),
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def impactlib(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """``impactlib ARGS`` as a user, or as the cluster's administrator (root, with a
        home in the cluster's directory), each in their own environment."""
        if user is not None:
            return self.run_as(user, [str(self.bin / "impactlib"), *args], check=False)
        return subprocess.run(
            [sys.executable, "-c", CLI_MAIN, *args],
            env=self._login_env("root"),
            cwd=self.home("root"),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def submit(self, user: str, script: str, **options: str | int | bool) -> str:
        """``sbatch`` the script as ``user``; options are sbatch's long options
        (``cpus_per_task=2`` is ``--cpus-per-task=2``, ``hold=True`` is ``--hold``).
        Returns the job id (an array's job id for ``array=``)."""
        flags = [f"--output={self.home(user)}/slurm-%j.out", f"--chdir={self.home(user)}"]
        for name, value in options.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                flags.append(flag)
            elif value is not False:
                flags.append(f"{flag}={value}")
        body = script if script.startswith("#!") else "#!/bin/bash\n" + textwrap.dedent(script)
        done = self.run_as(user, ["sbatch", "--parsable", *flags], input=body, check=False)
        if done.returncode != 0:
            raise AssertionError(f"sbatch {flags} as {user} failed: {done.stderr.strip()}")
        return done.stdout.strip().split(";")[0]

    def sacct(self, *args: str) -> str:
        """``sacct ARGS`` as root (every user's jobs): its standard output."""
        done = subprocess.run(
            ["sacct", *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise AssertionError(f"sacct {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def sacct_rows(self, job_ids: Sequence[str], fields: Sequence[str]) -> list[dict[str, str]]:
        """sacct's own lines (job and steps) of these jobs, as field -> value (``-P``, the
        job name last so that a ``|`` in it stays in it)."""
        names = [f for f in fields if f != "JobName"] + ["JobName"]
        out = self.sacct(
            "-P", "-n", "--noconvert", "-a", "-j", ",".join(job_ids), f"--format={','.join(names)}"
        )
        rows = []
        for line in out.splitlines():
            values = line.split("|", len(names) - 1)
            rows.append(dict(zip(names, values, strict=True)))
        return rows

    def state(self, job_id: str) -> str:
        """The job's state in squeue (``PENDING``, ``RUNNING``), or "" once it has left."""
        done = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%T"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""

    def wait_state(self, job_id: str, wanted: str, timeout_s: float = 60.0) -> None:
        """Wait until squeue shows the job in state ``wanted``."""
        deadline = time.monotonic() + timeout_s
        while (seen := self.state(job_id)) != wanted:
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} not {wanted} after {timeout_s:g} s: {seen!r}")
            time.sleep(0.2)

    def wait(self, job_id: str, timeout_s: float = 120.0) -> dict[str, str]:
        """Wait until the job (every task of an array) has ended and its accounting reached
        slurmdbd; its states by job id (``{"12_0": "COMPLETED", ...}``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            states = {
                row["JobID"]: row["State"].split()[0]
                for row in self.sacct_rows([job_id], ["JobID", "State"])
                if "." not in row["JobID"]
            }
            ended = states and not any(s in UNFINISHED or "[" in j for j, s in states.items())
            if ended and not self.state(job_id):
                return states
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} did not end in {timeout_s:g} s: {states}")
            time.sleep(0.3)

    def cancel(self, job_id: str) -> None:
        """``scancel`` as the cluster's administrator (what a user's scancel sends too)."""
        subprocess.run(["scancel", job_id], env=self.env, check=True, timeout=30)

    # -- configuration and daemons ---------------------------------------------------------

    def write_configs(self) -> None:
        """slurm.conf, cgroup.conf and slurmdbd.conf for the current gather plugin."""
        etc, base = self.base / "etc", self.base
        cgroup = self.cgroups
        lines = [
            f"ClusterName={CLUSTER}",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={self.ports.slurmctld}",
            f"SlurmdPort={self.ports.slurmd}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "CredType=cred/munge",
            f"StateSaveLocation={base / 'state'}",
            f"SlurmdSpoolDir={base / 'spool'}",
            f"SlurmctldPidFile={base / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={base / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={base / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={base / 'log' / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            f"ProctrackType=proctrack/{'cgroup' if cgroup else 'linuxproc'}",
            f"TaskPlugin={'task/cgroup,task/affinity' if cgroup else 'task/affinity'}",
            "PrologFlags=Contain",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "DefMemPerCPU=1000",
            f"JobAcctGatherType=jobacct_gather/{self.gather}",
            "JobAcctGatherFrequency=task=2",
            "AccountingStorageType=accounting_storage/slurmdbd",
            "AccountingStorageHost=127.0.0.1",
            f"AccountingStoragePort={self.ports.slurmdbd}",
            # The munge socket of the accounting connection (sacctmgr, slurmctld):
            # AuthInfo's is not used for it.
            f"AccountingStoragePass={self.munge_socket}",
            "AccountingStorageEnforce=associations",
            "MpiDefault=none",
            "ReturnToService=2",
            "SchedulerType=sched/backfill",
            "KillWait=10",
            "InactiveLimit=0",
            f"FirstJobId={self._first_job_id()}",
            f"NodeName={self.node} NodeAddr=127.0.0.1 {self._node_hardware()} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        _write(etc / "slurm.conf", "\n".join(lines) + "\n", 0o644)
        cgroup_conf = [
            "CgroupPlugin=cgroup/v1",
            "CgroupMountpoint=/sys/fs/cgroup",
            "ConstrainCores=yes",
            "ConstrainRAMSpace=yes",
        ]
        _write(etc / "cgroup.conf", "\n".join(cgroup_conf) + "\n", 0o644)
        dbd = [
            "AuthType=auth/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "DbdHost=localhost",
            "DbdAddr=127.0.0.1",
            f"DbdPort={self.ports.slurmdbd}",
            "SlurmUser=root",
            f"LogFile={base / 'log' / 'slurmdbd.log'}",
            f"PidFile={base / 'run' / 'slurmdbd.pid'}",
            "StorageType=accounting_storage/mysql",
            "StorageHost=127.0.0.1",
            f"StoragePort={self.ports.mariadb}",
            "StorageUser=root",
            "StorageLoc=slurm_acct_db",
        ]
        _write(etc / "slurmdbd.conf", "\n".join(dbd) + "\n", 0o600)  # slurmdbd insists

    def _first_job_id(self) -> int:
        if not self._first_id:
            self._first_id = random.randrange(10_000, 60_000_000, 10_000)
        return self._first_id

    def _node_hardware(self) -> str:
        """The node as ``slurmd -C`` sees it (a larger configuration would drain it)."""
        if not self._hardware:
            out = subprocess.run(
                ["slurmd", "-C"], env=self.env, capture_output=True, text=True, check=True
            ).stdout
            first = out.splitlines()[0].split()
            self._hardware = " ".join(w for w in first if not w.startswith("NodeName="))
        return self._hardware

    def _start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        log = open(self.base / "log" / f"{name}.out", "ab")  # noqa: SIM115 (the daemon's)
        self._daemons[name] = subprocess.Popen(
            argv,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def _wait_for(self, name: str, ready: Callable[[], bool], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            daemon = self._daemons.get(name)
            if daemon is not None and daemon.poll() is not None:
                raise ClusterUnavailable(f"{name} exited ({daemon.returncode}): {self.log(name)}")
            if time.monotonic() > deadline:
                raise ClusterUnavailable(f"{name} not ready in {timeout_s:g} s: {self.log(name)}")
            time.sleep(0.1)

    def log(self, name: str, lines: int = 8) -> str:
        """The last lines a daemon wrote (for failure messages)."""
        texts = []
        for path in sorted((self.base / "log").glob(f"{name}*")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            texts.append(f"[{path.name}] " + " / ".join(tail))
        return " ".join(texts) or "(no log)"

    def start_munge(self) -> None:
        key = self.base / "munge" / "key" / "munge.key"
        _write_bytes(key, os.urandom(1024), 0o400)
        run = self.munge_socket.parent
        self._start(
            "munged",
            [
                "munged",
                "--foreground",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={run / 'munged.pid'}",
                f"--log-file={key.parent / 'munged.log'}",
                f"--seed-file={key.parent / 'munged.seed'}",
            ],
        )
        self._wait_for("munged", self.munge_socket.exists)

    def start_mariadb(self) -> None:
        data, run = self.base / "mariadb", self.base / "run"
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=normal",  # root@127.0.0.1, no password
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            env=self.env,
            capture_output=True,
            check=True,
        )
        sock = run / "mariadb.sock"
        self._start(
            "mariadbd",
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--bind-address=127.0.0.1",
                f"--port={self.ports.mariadb}",
                f"--socket={sock}",
                f"--pid-file={run / 'mariadbd.pid'}",
                f"--log-error={self.base / 'log' / 'mariadbd.log'}",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--innodb-buffer-pool-size=64M",
            ],
        )
        self._wait_for("mariadbd", lambda: _listening(self.ports.mariadb))

    def start_slurmdbd(self) -> None:
        self._start("slurmdbd", ["slurmdbd", "-D"])
        self._wait_for("slurmdbd", lambda: self._sacctmgr("list cluster").returncode == 0)

    def _sacctmgr(self, commands: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sacctmgr", "-i"],
            input=commands,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def add_associations(self) -> None:
        """The cluster, its accounts and users, as an administrator creates them."""
        commands = [f"add cluster {CLUSTER}"]
        for account, parent in ACCOUNTS.items():
            commands.append(f"add account {account}" + (f" parent={parent}" if parent else ""))
        for user, account in {**USERS, "root": "lab"}.items():
            commands.append(f"add user {user} account={account}")
        done = self._sacctmgr("\n".join(commands) + "\n")
        if done.returncode != 0 or "rror" in done.stderr:
            raise ClusterUnavailable(f"sacctmgr: {done.stdout} {done.stderr}".strip())

    def start_slurm(self) -> None:
        """slurmctld and slurmd, until the node is idle."""
        self._start("slurmctld", ["slurmctld", "-D"])
        self._start("slurmd", ["slurmd", "-D", "-N", self.node])
        self._wait_for("slurmd", self._node_idle)

    def _node_idle(self) -> bool:
        done = subprocess.run(
            ["sinfo", "-h", "-n", self.node, "-o", "%T"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.returncode == 0 and done.stdout.strip() == "idle"

    def stop_slurm(self) -> None:
        """Cancel every job left, then stop slurmd and slurmctld by PID."""
        for user in USERS:
            subprocess.run(["scancel", "-u", user], env=self.env, capture_output=True, timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _squeue_busy(self.env):
            time.sleep(0.2)
        for name in ("slurmd", "slurmctld"):
            self._stop(name)

    @contextlib.contextmanager
    def gathering(self, plugin: str) -> Iterator[None]:
        """Run with ``jobacct_gather/<plugin>`` inside the block (slurmctld and slurmd are
        restarted, the accounting kept), and the plugin before it afterwards."""
        before = self.gather
        self._restart(plugin)
        try:
            yield
        finally:
            self._restart(before)

    def _restart(self, plugin: str) -> None:
        if plugin == self.gather and "slurmd" in self._daemons:
            return
        self.stop_slurm()
        self.gather = plugin
        self.write_configs()
        self.start_slurm()

    def _stop(self, name: str) -> None:
        daemon = self._daemons.pop(name, None)
        if daemon is None or daemon.poll() is not None:
            return
        daemon.terminate()
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=5)

    def stop(self) -> None:
        """Every daemon by its PID, then what the jobs left (by PID, found by this
        cluster's SLURM_CONF in their environment), then the files."""
        with contextlib.suppress(Exception):
            if "slurmctld" in self._daemons:
                self.stop_slurm()
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            self._stop(name)
        for pid in _pids_with_env(f"SLURM_CONF={self.conf}"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


def _assignments(env: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in env.items()]


def _write(path: Path, text: str, mode: int) -> None:
    _write_bytes(path, text.encode(), mode)


def _write_bytes(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _squeue_busy(env: Mapping[str, str]) -> bool:
    done = subprocess.run(
        ["squeue", "-h", "-o", "%i"], env=dict(env), capture_output=True, text=True, timeout=30
    )
    return done.returncode == 0 and bool(done.stdout.strip())


def _pids_with_env(entry: str) -> list[int]:
    """Processes whose environment holds ``entry`` (jobs and step daemons of one cluster)."""
    wanted, found = entry.encode(), []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if wanted in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
    return found


def missing_programs() -> list[str]:
    """``program (package)`` for each program of the cluster not installed."""
    return [
        f"{program} ({package})"
        for program, package in PROGRAMS.items()
        if shutil.which(program, path=SYSTEM_PATH) is None
    ]


def has_cgroup_v1() -> bool:
    """Whether the v1 hierarchies SLURM 22.05's cgroup plugins need are mounted."""
    root = Path("/sys/fs/cgroup")
    return all((root / c / "cgroup.procs").exists() for c in V1_CONTROLLERS)


def ensure_user(name: str) -> None:
    """An unprivileged local user (created without a home: the cluster gives it one)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--user-group", "--no-create-home", "--shell", "/bin/bash", name],
            env={"PATH": SYSTEM_PATH},
            check=True,
            capture_output=True,
        )


def _checkout_paths() -> str:
    """This environment's packages and this checkout's source, for another interpreter."""
    import impactlib

    source = str(Path(impactlib.__file__).resolve().parent.parent)
    return os.pathsep.join(dict.fromkeys([source, *site.getsitepackages()]))


def _copied_paths(target: Path) -> str:
    """impactlib and the installed files of its dependencies (extras left out), copied to
    ``target``: for a checkout the users cannot read (a clone under root's home)."""
    import impactlib

    shutil.copytree(Path(impactlib.__file__).parent, target / "impactlib", dirs_exist_ok=True)
    seen: set[str] = {"impactlib"}
    todo = [r for r in metadata.requires("impactlib") or [] if "extra ==" not in r]
    while todo:
        name = re.split(r"[^A-Za-z0-9._-]", todo.pop().strip(), maxsplit=1)[0].lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:  # a dependency of another Python version
            continue
        todo += [r for r in dist.requires or [] if "extra ==" not in r]
        root = Path(str(dist.locate_file(""))).resolve()
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file))).resolve()
            if source.is_file() and source.is_relative_to(root) and ".." not in file.parts:
                (target / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / file)
    for folder in [target, *target.rglob("*")]:
        folder.chmod(0o755 if folder.is_dir() else 0o644)
    return str(target)


def _imports_impactlib(user: str, candidate: UserPython) -> str:
    """ "" where ``user`` can run impactlib with ``candidate``, else why not."""
    env = {"PATH": SYSTEM_PATH, "HOME": "/", "PYTHONDONTWRITEBYTECODE": "1"}
    if candidate.pythonpath:
        env["PYTHONPATH"] = candidate.pythonpath
    done = subprocess.run(
        ["runuser", "-u", user, "--", "env", "-i", *_assignments(env), candidate.executable]
        + ["-c", "import impactlib.cli.main"],
        cwd="/",
        capture_output=True,
        text=True,
    )
    last = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
    return "" if done.returncode == 0 else f"{candidate.executable}: {last[0]}"


def user_python(user: str, scratch: Path) -> UserPython:
    """An interpreter ``user`` can execute that imports this checkout's impactlib: the
    test's own; else its base interpreter or a system one of the same version, with this
    environment's packages on PYTHONPATH, read in place or (where the user cannot read
    them) copied under ``scratch``."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    others = [str(Path(sys.executable).resolve())]
    others += [
        str(Path(d) / version) for d in SYSTEM_PATH.split(":") if (Path(d) / version).exists()
    ]
    tried = []
    for candidate in [UserPython(sys.executable, None)] + [
        UserPython(executable, _checkout_paths()) for executable in dict.fromkeys(others)
    ]:
        problem = _imports_impactlib(user, candidate)
        if not problem:
            return candidate
        tried.append(problem)
    copied = _copied_paths(scratch)
    for executable in dict.fromkeys(others):
        problem = _imports_impactlib(user, UserPython(executable, copied))
        if not problem:
            return UserPython(executable, copied)
        tried.append(f"{problem} (packages copied to {scratch})")
    raise ClusterUnavailable(
        f"user {user} cannot run this checkout's impactlib ({'; '.join(tried)}): install "
        f"{version} where every user can execute it (Debian: apt-get install {version})"
    )


def _prepare(base: Path, python: UserPython) -> None:
    for folder, mode in (
        ("etc", 0o755),
        ("munge", 0o755),
        ("munge/key", 0o700),
        ("munge/run", 0o755),
        ("run", 0o755),
        ("log", 0o755),
        ("state", 0o700),
        ("spool", 0o755),
        ("bin", 0o755),
        ("share", 0o755),
        ("home", 0o755),
    ):
        (base / folder).mkdir(parents=True, exist_ok=True)
        (base / folder).chmod(mode)
    impactlib = f'#!/bin/sh\nexec "{python.executable}" -c "{CLI_MAIN}" "$@"\n'
    _write(base / "bin" / "impactlib", impactlib, 0o755)
    _write(base / "bin" / "python", f'#!/bin/sh\nexec "{python.executable}" "$@"\n', 0o755)
    (base / "home" / "root").mkdir(mode=0o700)
    for user in USERS:
        home = base / "home" / user
        home.mkdir()
        home.chmod(0o700)
        entry = pwd.getpwnam(user)
        os.chown(home, entry.pw_uid, entry.pw_gid)


def start_cluster() -> SlurmCluster:
    """Check what the cluster needs, then start it; ClusterUnavailable says what is missing."""
    if sys.platform != "linux" or os.geteuid() != 0:
        raise ClusterUnavailable("needs root on Linux (slurmd runs jobs as other users)")
    missing = missing_programs()
    if missing:
        packages = sorted({m.split("(")[1].rstrip(")") for m in missing})
        raise ClusterUnavailable(
            f"not installed: {', '.join(missing)}; apt-get install {' '.join(packages)}"
        )
    begun = time.monotonic()
    for user in USERS:
        ensure_user(user)
    base = Path(tempfile.mkdtemp(prefix="impactlib-slurm-"))
    base.chmod(0o755)  # the users' jobs read their scripts and workloads below it
    try:
        python = user_python(ALICE, base / "site")
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    ports = Ports(_free_port(), _free_port(), _free_port(), _free_port())
    node = socket.gethostname().split(".")[0]
    cluster = SlurmCluster(base, node, os.cpu_count() or 1, ports, python, cgroups=has_cgroup_v1())
    cluster.gather = "cgroup" if cluster.cgroups else "linux"
    try:
        _prepare(base, python)
        cluster.write_configs()
        cluster.start_munge()
        cluster.start_mariadb()
        cluster.start_slurmdbd()
        cluster.add_associations()
        cluster.start_slurm()
    except BaseException:
        cluster.stop()
        raise
    cluster.started_in_s = time.monotonic() - begun
    return cluster


@pytest.fixture(scope="session", name="slurm_cluster")
def slurm_cluster_fixture() -> Iterator[SlurmCluster]:
    """The session's cluster (started on first use, stopped at the end). One cluster per
    machine at a time: slurmd's cgroups are named after the node, so a second test session
    waits here for the first one's cluster to stop."""
    import fcntl

    lock = open(os.path.join(tempfile.gettempdir(), "impactlib-slurm-cluster.lock"), "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        cluster = start_cluster()
    except (ClusterUnavailable, subprocess.CalledProcessError) as exc:
        detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else ""
        lock.close()
        unavailable(f"{exc} {detail or ''}".strip())
    try:
        yield cluster
    finally:
        cluster.stop()
        lock.close()
