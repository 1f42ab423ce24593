"""The local API over the Unix socket: who sees what, bad input, and clients that misbehave."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonhost import (
    NOBODY,
    InProcess,
    daemon_config,
    in_process,
    needs_root,
    public_dir,
    python_for,
)
from powercap import FakePowercap

from impactlib.containers import container_of
from impactlib.meters.daemon import ask
from impactlib.server import api
from impactlib.server.api import ApiServer, SocketInUse
from impactlib.server.callers import Refused, identify, resolve

root_only = pytest.mark.skipif(os.geteuid() != 0, reason=needs_root)

# Run as another user: what that user's client gets for each question, and how long each took.
ASK_AS = textwrap.dedent(
    """
    import json, os, sys, time
    from impactlib.meters.daemon import ask
    out = {}
    for what in sys.argv[2:]:
        what = what.replace("SELF", str(os.getpid())).replace("UID", str(os.getuid()))
        t0 = time.monotonic()
        answer = ask(sys.argv[1], what)
        out[what] = [answer.status, answer.body, time.monotonic() - t0]
    print(json.dumps(out))
    """
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[InProcess]:
    fake = FakePowercap(tmp_path / "sys")
    fake.add_package(0, dram=True)
    with public_dir() as public, in_process(daemon_config(fake.root, public / "api.sock")) as d:
        yield d


def ask_as(uid: int, path: str, *questions: str) -> dict[str, list[object]]:
    """Ask the daemon as ``uid`` from a child process (``SELF``: the child's own pid)."""
    done = subprocess.run(
        [*python_for(uid), "-c", ASK_AS, path, *questions],
        user=uid,
        group=uid,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answers: dict[str, list[object]] = json.loads(done.stdout)
    return answers


def raw(path: str, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_process_tree_is_answered_with_method_floor_and_timestamp(served: InProcess) -> None:
    answer = ask(served.socket, f"/v1/processes/{os.getpid()}")
    assert answer.status == 200
    body = answer.body
    assert body["pid"] == os.getpid() and body["uid"] == os.getuid()
    assert body["idle_policy"] == "usage" and body["timestamp"] and body["since"]
    cpu = body["domains"]["cpu:package-0"]
    assert cpu["method"] == "rapl" and cpu["quality"] == "measured"
    assert cpu["floor_source"] == "observed" and cpu["energy_j"] >= 0.0
    assert set(body["domains"]) == {"cpu:package-0", "dram:package-0"}


def test_self_is_the_callers_own_process_from_its_credentials(served: InProcess) -> None:
    """``self`` is decided by the kernel's peer credentials: the same tree as the caller's
    pid, named by that pid, with the container it runs in."""
    by_self = ask(served.socket, "/v1/processes/self")
    by_pid = ask(served.socket, f"/v1/processes/{os.getpid()}")
    assert by_self.status == by_pid.status == 200
    assert by_self.body["pid"] == by_pid.body["pid"] == os.getpid()
    here = container_of("/proc", os.getpid())  # none on a bare host; CI's, in one
    expected = dict(vars(here)) if here is not None else None
    assert by_self.body["container"] == by_pid.body["container"] == expected
    assert by_self.body["domains"].keys() == by_pid.body["domains"].keys()


def test_health_and_bad_questions_get_one_json_error(served: InProcess) -> None:
    assert ask(served.socket, "/v1/health").status == 200
    for what, status in [
        ("/v1/processes/abc", 400),
        ("/v1/processes/-1", 400),
        ("/v1/processes/4194999", 404),
        ("/v1/nothing/here", 404),
        ("/", 404),
        ("/v1/processes/" + "9" * 300, 414),
    ]:
        answer = ask(served.socket, what)
        assert answer.status == status, what
        assert list(answer.body) == ["error"] and answer.body["error"], what
    posted = raw(served.socket, b"POST /v1/health HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
    assert posted.startswith(b"HTTP/1.0 405") and b'{"error":' in posted


@pytest.mark.skipif(os.geteuid() != 0, reason=needs_root)
def test_a_user_sees_only_their_own_processes_and_root_sees_all(served: InProcess) -> None:
    mine = f"/v1/processes/{os.getpid()}"
    answers = ask_as(
        NOBODY,
        served.socket,
        mine,
        "/v1/processes/SELF",
        "/v1/machine",
        "/v1/users/0",
        "/v1/users/UID",
    )
    status = {what: answer[0] for what, answer in answers.items()}
    assert status[mine] == 403
    assert answers[mine][1] == {"error": f"process {os.getpid()} is another user's"}
    own = next(a for w, a in answers.items() if w.startswith("/v1/processes/") and w != mine)
    assert own[0] == 200
    assert status["/v1/machine"] == 403 and status["/v1/users/0"] == 403
    assert status[f"/v1/users/{NOBODY}"] == 200
    assert ask(served.socket, "/v1/machine").status == 200  # root sees all
    assert ask(served.socket, f"/v1/users/{NOBODY}").status == 200


def test_the_socket_is_connectable_by_everyone(served: InProcess) -> None:
    assert Path(served.socket).stat().st_mode & 0o777 == 0o666


@pytest.mark.skipif(os.geteuid() != 0, reason=needs_root)
def test_garbage_silence_and_a_flood_of_connections_do_not_stop_the_answers(
    served: InProcess,
) -> None:
    garbage = raw(served.socket, b"\x00\xff\xfe GARBAGE\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.0 400")
    flood = []
    refused = 0
    for _ in range(300):  # silent connections, all from root
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(served.socket)
        flood.append(sock)
    try:
        for sock in flood:
            sock.settimeout(0.01)
            with contextlib.suppress(TimeoutError):
                refused += sock.recv(64).startswith(b"HTTP/1.0 429")
        # Another user's well-formed question is answered within a second meanwhile.
        answers = ask_as(NOBODY, served.socket, "/v1/processes/SELF")
        (status, _body, seconds) = next(iter(answers.values()))
        assert status == 200 and isinstance(seconds, float) and seconds < 1.0
    finally:
        for sock in flood:
            sock.close()
    assert refused >= 300 - api.MAX_CONNECTIONS_PER_UID - 5
    time.sleep(0.2)
    assert ask(served.socket, "/v1/health").status == 200  # root is answered again


def test_a_peer_that_asks_too_fast_is_slowed_down(served: InProcess) -> None:
    statuses = [ask(served.socket, "/v1/health").status for _ in range(int(api.BURST) + 20)]
    assert 429 in statuses and statuses[0] == 200
    time.sleep(2.5 / api.RATE_PER_S)
    assert ask(served.socket, "/v1/health").status == 200


def test_a_stale_socket_is_replaced_and_a_live_one_or_a_file_is_refused(
    tmp_path: Path, served: InProcess
) -> None:
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(stale))  # bound, never listening: what a killed daemon leaves
    server = ApiServer(str(stale), served.daemon)
    server.server_close()
    assert not stale.exists()
    with pytest.raises(SocketInUse, match="another daemon answers"):
        ApiServer(served.socket, served.daemon)
    regular = tmp_path / "file"
    regular.write_text("not a socket")
    with pytest.raises(SocketInUse, match="not a socket"):
        ApiServer(str(regular), served.daemon)
    assert regular.read_text() == "not a socket"


@pytest.mark.filterwarnings("ignore::impactlib.errors.ImpactWarning")  # estimated CPU: expected
def test_health_names_a_modelled_floor_as_the_tracker_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same idle floor (the CPU model's, on a machine without readable RAPL) is ``model``
    in the daemon's ``/v1/health`` and in a tracker's record, and its energy is estimated."""
    import impactlib

    no_rapl = tmp_path / "no-powercap"
    monkeypatch.setenv("IMPACTLIB_STORE", str(tmp_path / "runs.db"))
    with public_dir() as public, in_process(daemon_config(no_rapl, public / "api.sock")) as d:
        health = ask(d.socket, "/v1/health").body["domains"]["cpu:model"]
    with impactlib.track(
        powercap_root=str(no_rapl),
        daemon_socket=str(tmp_path / "no-daemon.sock"),
        country="FR",
        interval=0.1,
    ) as tracker:
        time.sleep(0.3)
    assert tracker.footprint is not None
    (tracked,) = [c for c in tracker.footprint.components if c.domain == "cpu:model"]
    assert health["quality"] == tracked.quality == "estimated"
    assert health["floor_source"] == tracked.idle_floor_source == "model"


def test_a_caller_the_kernel_cannot_place_is_confined(served: InProcess) -> None:
    """A caller whose process is gone by the time it is asked about (so neither its PID
    namespace nor its process can be read) gets the least: not even root is taken for the
    machine's administrator, and no hint is resolved."""
    table = served.daemon.table
    with served.daemon.lock:
        caller = identify(table, 4194999, 0)  # root's credentials, no such process
        assert caller.nested and not caller.sees_all
        assert resolve(table, caller, None) == Refused(
            404, "your process is not visible to the daemon"
        )
        assert resolve(table, caller, 1) == Refused(404, "no process 1 in your PID namespace")
        me = identify(table, os.getpid(), os.getuid())  # this test, in the host's namespace
        assert not me.nested and resolve(table, me, None) is me.proc
