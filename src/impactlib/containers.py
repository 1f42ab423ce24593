"""Which container a process runs in, from the cgroup the kernel placed it in.

Every container runtime puts a container's processes in a cgroup of its own and names that
cgroup after the container, so ``/proc/<pid>/cgroup`` says which container a process is in
without asking the runtime (no Docker socket, no privileges). The names, by runtime and
cgroup driver:

=========================  ===================================  ==============================
runtime                    systemd driver (``.scope`` units)    cgroupfs driver
=========================  ===================================  ==============================
Docker                     ``docker-<id>.scope``                ``/docker/<id>``
Podman                     ``libpod-<id>.scope``                ``/libpod_parent/libpod-<id>``
containerd (CRI, nerdctl)  ``cri-containerd-<id>.scope``        ``/kubepods/.../pod<uid>/<id>``
CRI-O                      ``crio-<id>.scope``                  ``/kubepods/.../pod<uid>/<id>``
=========================  ===================================  ==============================

A Kubernetes pod is a slice above its containers: ``kubepods-burstable-pod<uid>.slice``
(systemd, the uid's dashes escaped as ``_``) or ``/kubepods/burstable/pod<uid>`` (cgroupfs);
its uid is kept with the container. The monitor processes runtimes start beside a container
(``libpod-conmon-<id>.scope``, ``crio-conmon-<id>.scope``) are not in it: their cgroups do
not match, since an id is hexadecimal.

Under cgroup v2 the file has one line, ``0::<path>``; under v1 one per hierarchy, which may
disagree (a runtime need not create its cgroup in every hierarchy): the first line that
names a container decides. A process in a private cgroup namespace (Docker's default under
v2) sees its own cgroup as ``/``: only a reader outside it, such as the daemon, sees the
container, which is why a tracker asks the daemon first.
"""

from __future__ import annotations

import os
import re

from .footprint import Container, ContainerRuntime

_ID = r"([0-9a-f]{64})"
# Each pattern matches one path component (a whole one: anchored at both ends).
_SCOPES: tuple[tuple[re.Pattern[str], ContainerRuntime], ...] = (
    (re.compile(rf"docker-{_ID}\.scope"), ContainerRuntime.DOCKER),
    (re.compile(rf"libpod-{_ID}(?:\.scope)?"), ContainerRuntime.PODMAN),
    (re.compile(rf"cri-containerd-{_ID}\.scope"), ContainerRuntime.CONTAINERD),
    (re.compile(rf"crio-{_ID}\.scope"), ContainerRuntime.CRIO),
)
_POD_SYSTEMD = re.compile(r"kubepods(?:-[a-z]+)?-pod([0-9a-f_]{36})\.slice")
_POD_CGROUPFS = re.compile(r"pod([0-9a-f-]{36})")
_BARE_ID = re.compile(_ID)


def _pod(components: list[str]) -> tuple[str, bool]:
    """The pod uid in a cgroup path's components (dashes restored), and whether the path is
    under ``kubepods`` at all."""
    kube = any(c == "kubepods" or c.startswith("kubepods") for c in components)
    for component in components:
        found = _POD_SYSTEMD.fullmatch(component)
        if found:
            return found.group(1).replace("_", "-"), kube
        found = _POD_CGROUPFS.fullmatch(component)
        if found and kube:
            return found.group(1), kube
    return "", kube


def container_of_path(path: str) -> Container | None:
    """The container a cgroup path names, or None (a login session, a service, a job)."""
    components = [c for c in path.split("/") if c]
    pod, kube = _pod(components)
    for index, component in enumerate(components):
        for pattern, runtime in _SCOPES:
            found = pattern.fullmatch(component)
            if found:
                return Container(runtime, found.group(1), pod)
        # cgroupfs drivers: the bare id under the runtime's own directory or a pod's
        parent = components[index - 1] if index else ""
        if _BARE_ID.fullmatch(component):
            if parent == "docker":
                return Container(ContainerRuntime.DOCKER, component, pod)
            if kube and pod and parent.startswith("pod"):
                return Container(ContainerRuntime.CRI, component, pod)
    return None


def container_of_cgroup(text: str) -> Container | None:
    """The container a ``/proc/<pid>/cgroup`` file's contents name (v1 or v2), or None."""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            found = container_of_path(parts[2])
            if found is not None:
                return found
    return None


def container_of(procfs_root: str = "/proc", pid: int | str = "self") -> Container | None:
    """The container process ``pid`` runs in, as ``procfs_root`` shows it; None when it
    runs in none, is gone, or is hidden by a cgroup namespace."""
    try:
        with open(os.path.join(procfs_root, str(pid), "cgroup"), "rb") as fh:
            return container_of_cgroup(fh.read().decode("utf-8", errors="replace"))
    except OSError:
        return None
