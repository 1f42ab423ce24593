"""The Prometheus exporter: what a lab's Prometheus scrapes from every server.

A lab does not need impactlib to federate machines: Prometheus scrapes each server's
``/metrics`` and Grafana draws them (``deploy/grafana/impactlib.json``). The metrics follow
Prometheus's naming rules: base units (joules), ``_total`` on counters, one application
prefix, and labels whose ``sum()`` means something. Series:

* ``impactlib_energy_joules_total{domain,user}``: energy attributed to each user;
* ``impactlib_job_energy_joules_total{domain,job}``: to each SLURM job;
* ``impactlib_container_energy_joules_total{domain,runtime,container}``: to each container
  (its full id), only where the admin sets ``metrics_containers = true``: every container
  ever started would be a new series (a CI runner starts thousands a day), so by default
  containers are kept in the store's minutes and ``/v1/machine`` only;
* ``impactlib_unattributed_energy_joules_total{domain}``: the remainder (the system, idle
  power nobody held under the policy), so per domain users + remainder = the domain's energy;
* ``impactlib_domain_energy_joules_total{domain,quality}``: each domain's whole energy,
  ``quality="measured"`` where a meter read it and ``"estimated"`` where a model gave it
  (a daemon without readable counters models the CPU): modelled energy is never called
  measured;
* ``impactlib_idle_floor_watts{domain,source}``: the idle power in use, and where it came from.

Never a PID label: PIDs are unbounded and recycled, so each would be a new series forever
(the cardinality trap of per-process exporters). Bound to 127.0.0.1 by default: per-user
energy is personal data of a kind, exposed to the network only by the admin's choice.

``prometheus-client`` is the ``daemon`` extra, imported only when the exporter starts.
"""

from __future__ import annotations

import pwd
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from .daemon import Daemon


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9877`` for IPv6) as (host, port); :class:`UsageError` if not."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(
            f"metrics_address {address!r}: use HOST:PORT, such as 127.0.0.1:9877, or an "
            "empty value for no exporter"
        )
    return host, int(port)


def user_label(uid: int, names: dict[int, str]) -> str:
    """The login name of ``uid`` (its number where it has none), looked up once."""
    name = names.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        names[uid] = name
    return name


class DaemonCollector:
    """Reads the daemon's totals at each scrape (no copy kept between scrapes)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._names: dict[int, str] = {}

    def collect(self) -> Iterator[Any]:
        """The metric families of one scrape."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        users = CounterMetricFamily(
            "impactlib_energy_joules",
            "Energy attributed to each user's processes since the daemon started.",
            labels=["domain", "user"],
        )
        jobs = CounterMetricFamily(
            "impactlib_job_energy_joules",
            "Energy attributed to each SLURM job since the daemon started.",
            labels=["domain", "job"],
        )
        rest = CounterMetricFamily(
            "impactlib_unattributed_energy_joules",
            "Energy attributed to no user process (system, unheld idle power).",
            labels=["domain"],
        )
        whole = CounterMetricFamily(
            "impactlib_domain_energy_joules",
            "Energy of each whole domain since the daemon started: measured by a meter, or "
            "estimated by a model.",
            labels=["domain", "quality"],
        )
        floors = GaugeMetricFamily(
            "impactlib_idle_floor_watts",
            "Idle power of each domain in use for attribution, with where it came from.",
            labels=["domain", "source"],
        )
        containers = CounterMetricFamily(
            "impactlib_container_energy_joules",
            "Energy attributed to each container since the daemon started.",
            labels=["domain", "runtime", "container"],
        )
        a = self.daemon.attributor
        with self.daemon.lock:
            by_user: dict[tuple[str, str], float] = {}
            for uid, energy in a.users.items():
                name = user_label(uid, self._names)
                for domain, joules in energy.items():
                    by_user[(domain, name)] = by_user.get((domain, name), 0.0) + joules
            for (domain, name), joules in sorted(by_user.items()):
                users.add_metric([domain, name], joules)
            for job, energy in sorted(a.jobs.items()):
                for domain, joules in sorted(energy.items()):
                    jobs.add_metric([domain, job], joules)
            if self.daemon.config.metrics_containers:
                for name, energy in sorted(a.containers.items()):
                    runtime, _, container = name.partition(":")
                    for domain, joules in sorted(energy.items()):
                        containers.add_metric([domain, runtime, container], joules)
            for domain, joules in sorted(a.unattributed.items()):
                rest.add_metric([domain], joules)
            for domain, joules in sorted(a.domain_energy().items()):
                whole.add_metric([domain, a.domains[domain].quality], joules)
                floor = a.floor(domain)
                floors.add_metric([domain, floor.source], floor.watts)
        yield from (users, jobs, rest, whole, floors)
        if self.daemon.config.metrics_containers:
            yield containers


def start_exporter(daemon: Daemon, address: str) -> tuple[Any, str]:
    """Serve ``/metrics`` on ``address``; the server (``shutdown()`` ends it) and the URL."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError as exc:
        raise UsageError(
            "the Prometheus exporter needs prometheus-client: pip install 'impactlib[daemon]', "
            "or set metrics_address to an empty value"
        ) from exc
    host, port = parse_address(address)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(daemon))
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise UsageError(f"cannot serve metrics on {address} ({exc.strerror})") from exc
    bound_port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    return server, f"http://{shown}:{bound_port}/metrics"
