"""Wall power from the BMC through Redfish (DMTF DSP0266, schemas DSP8010).

``redfish_url`` is the BMC (``https://bmc``, its service root ``/redfish/v1/``) or one
chassis (``https://bmc/redfish/v1/Chassis/1U``). From the service root the chassis is found
in ``Chassis``: the one not contained in another (``Links.ContainedBy``) that holds the
computer system (``Links.ComputerSystems``), so that a GPU baseboard or a drive enclosure,
which are chassis too and may report their own power, is never taken for the server. Where
several would do, none is guessed: the error lists them and asks for the chassis URL.

Three shapes give a chassis' input power; the first one the chassis has is used:

1. ``EnvironmentMetrics`` → ``PowerWatts.Reading`` (Chassis v1.15+, the current one): one
   request per reading;
2. ``Power`` → ``PowerControl[].PowerConsumedWatts`` (deprecated since 2020.4, but what most
   BMCs in service answer: iDRAC, iLO, XClarity, OpenBMC): the first member with a reading,
   one request per reading;
3. ``PowerSubsystem`` → ``PowerSupplies`` → each present supply's ``Metrics`` →
   ``InputPowerWatts.Reading``, summed: the power supplies' input, one request per supply.

Credentials come from ``redfish_credentials``, a TOML file that only its owner may read
(mode 0600 or 0400), owned by root or by the user running impactlib, with ``username`` and
``password``, and optionally ``verify``: ``true`` (the default: the BMC's certificate is
checked against the system's authorities), the path of a CA or certificate file that signs
the BMC's, or ``false`` for a self-signed BMC on a trusted management network. Any other
file is refused, with one line saying why; the password is sent by HTTP Basic
authentication (which DSP0266 requires every service to accept) and is never written to a
record, a note, a diagnostic or a log. Unprivileged users cannot read that file: they get
the wall through ``impactlib serve``, which reads the BMC as root.
"""

from __future__ import annotations

import os
import ssl
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..errors import MeterUnavailable
from ..footprint import Method
from .wallmeter import WALL, FailedReadings, ReadFailed, WallMeter, WallReading, timed_reading

SERVICE_ROOT = "/redfish/v1/"
PERIOD_S = 5.0  # a BMC answers in 0.1 to 2 s and refreshes its reading every few seconds
TIMEOUT_S = 5.0
_MAX_PLAUSIBLE_W = 100_000.0
_CREDENTIAL_KEYS = ("username", "password", "verify")


@dataclass(frozen=True)
class RedfishCredentials:
    """What ``redfish_credentials`` holds; the password never shows in a repr."""

    username: str
    password: str = field(repr=False)
    verify: bool | str = True  # True, False, or the path of a CA / certificate file


class _Failed(ReadFailed):
    """A request that gave no usable answer, with its cause in a few words."""


# What a shape's finder gives: the resources to read at each reading, and how to read one.
_Found = tuple[tuple[str, ...], Callable[[Mapping[str, Any]], "float | None"]]


class _Plan(NamedTuple):
    """How the chosen chassis gives its power: which shape, which resources, how read."""

    shape: str
    paths: tuple[str, ...]
    watts: Callable[[Mapping[str, Any]], float | None]


def read_credentials(path: str) -> RedfishCredentials:
    """The credentials in ``path``, after checking that nobody else can read or change it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise MeterUnavailable(
            WALL,
            f"redfish_credentials {path} cannot be read ({exc.strerror})",
            "run as root, or let impactlib serve (root) read the BMC for every user",
        ) from exc
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if info.st_uid not in (0, os.geteuid()):
            raise MeterUnavailable(
                WALL,
                f"redfish_credentials {path} is owned by uid {info.st_uid}, neither root nor "
                "you: its owner could change the password it holds or read it",
                f"chown root {path} (or chown it to yourself)",
            )
        if info.st_mode & 0o077:
            raise MeterUnavailable(
                WALL,
                f"redfish_credentials {path} is open to others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}): they could read the BMC password",
                f"chmod 600 {path}",
            )
        data = fh.read()
    return _parse_credentials(path, data)


def _parse_credentials(path: str, data: bytes) -> RedfishCredentials:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    fix = f'write {path} as TOML: username = "..." and password = "..." (verify optional)'
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        # The decoder's message may quote the file: never shown, it may hold the password.
        raise MeterUnavailable(WALL, f"redfish_credentials {path} is not valid TOML", fix) from exc
    unknown = sorted(set(table) - set(_CREDENTIAL_KEYS))
    username, password = table.get("username"), table.get("password")
    verify = table.get("verify", True)
    if unknown or not isinstance(username, str) or not isinstance(password, str):
        what = f"unknown keys {', '.join(unknown)}" if unknown else "no username and password"
        raise MeterUnavailable(WALL, f"redfish_credentials {path} has {what}", fix)
    if not isinstance(verify, bool | str):
        raise MeterUnavailable(
            WALL, f"redfish_credentials {path}: verify must be true, false or a file", fix
        )
    return RedfishCredentials(username, password, verify)


class RedfishWallMeter(WallMeter):
    """A chassis' input power, read from the BMC's Redfish service every :data:`PERIOD_S`."""

    method = Method.REDFISH
    period_s = PERIOD_S

    def __init__(
        self, url: str, credentials: str | None = None, *, timeout_s: float = TIMEOUT_S
    ) -> None:
        import httpx

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MeterUnavailable(
                WALL,
                f"redfish_url {url!r} is not an http(s) URL",
                "set redfish_url to https://bmc-address (or a chassis URL under it)",
            )
        port = f":{parts.port}" if parts.port else ""
        self.origin = f"{parts.scheme}://{parts.hostname}{port}"  # never a user or password
        given = read_credentials(credentials) if credentials else None
        self.failures = FailedReadings(f"Redfish {self.origin}")
        self._client = httpx.Client(
            base_url=self.origin,
            auth=(given.username, given.password) if given else None,
            verify=_verify(given.verify) if given else True,
            timeout=timeout_s,
            headers={"Accept": "application/json", "OData-Version": "4.0"},
            follow_redirects=True,
        )
        try:
            path = parts.path.rstrip("/")
            path = SERVICE_ROOT if path in ("", SERVICE_ROOT.rstrip("/")) else path
            chassis_path, chassis = self._choose(path)
            self._plan = self._plan_for(chassis_path, chassis)
            self._read()
        except _Failed as exc:
            self._client.close()
            raise MeterUnavailable(WALL, f"Redfish at {self.origin}: {exc}", _fix(exc)) from exc
        except MeterUnavailable:
            self._client.close()
            raise
        supplies = len(self._plan.paths)
        summed = f", {supplies} power supplies summed" if supplies > 1 else ""
        self.note = (
            f"BMC power reading (Redfish) {self.origin}{self._plan.paths[0]} "
            f"({self._plan.shape}{summed})"
        )

    def read_power(self) -> WallReading | None:
        """The chassis' power now; None (counted by cause) when a request fails."""
        return timed_reading(self._read, self.failures)

    def diagnostics(self) -> list[str]:
        """One line per cause of failed readings."""
        return self.failures.lines()

    def close(self) -> None:
        """Close the HTTP connection."""
        self._client.close()

    # --- discovery ----------------------------------------------------------------------

    def _choose(self, path: str) -> tuple[str, Mapping[str, Any]]:
        """The chassis at ``path``, or the server's chassis under the service root there."""
        doc = self._get(path)
        kind = str(doc.get("@odata.type", ""))
        if kind.startswith("#Chassis.") or ("PowerState" in doc and "ChassisType" in doc):
            return path, doc
        if "Members" not in doc:
            link = _link(doc, "Chassis")
            if link is None:
                raise _Failed(f"{path} is neither a service root nor a chassis")
            doc = self._get(link)
        members = [m for m in (_link_of(m) for m in doc.get("Members", [])) if m]
        chassis = [(m, self._get(m)) for m in members]
        top = [c for c in chassis if not _links(c[1]).get("ContainedBy")] or chassis
        servers = [c for c in top if _links(c[1]).get("ComputerSystems")] or top
        if len(servers) == 1:
            return servers[0]
        names = ", ".join(m for m, _ in servers) or "none"
        raise MeterUnavailable(
            WALL,
            f"Redfish at {self.origin}: which chassis is the server cannot be told ({names})",
            f"set redfish_url to the server's chassis, e.g. {self.origin}"
            + (servers[0][0] if servers else "/redfish/v1/Chassis/<id>"),
        )

    def _plan_for(self, path: str, chassis: Mapping[str, Any]) -> _Plan:
        """The first shape the chassis answers with a reading."""
        reasons = []
        for shape, find in (
            ("EnvironmentMetrics PowerWatts", self._environment_metrics),
            ("Power PowerControl PowerConsumedWatts", self._power),
            ("PowerSubsystem power supplies' InputPowerWatts", self._power_subsystem),
        ):
            try:
                paths, watts = find(chassis)
            except _Failed as exc:
                reasons.append(f"{shape.split()[0]}: {exc}")
                continue
            return _Plan(shape, paths, watts)
        raise _Failed(f"chassis {path} gives no power reading ({'; '.join(reasons)})")

    def _environment_metrics(self, chassis: Mapping[str, Any]) -> _Found:
        link = _required(chassis, "EnvironmentMetrics")
        _reading(self._get(link), _environment_watts, link)
        return (link,), _environment_watts

    def _power(self, chassis: Mapping[str, Any]) -> _Found:
        link = _required(chassis, "Power")
        _reading(self._get(link), _power_control_watts, link)
        return (link,), _power_control_watts

    def _power_subsystem(self, chassis: Mapping[str, Any]) -> _Found:
        subsystem = self._get(_required(chassis, "PowerSubsystem"))
        supplies = self._get(_required(subsystem, "PowerSupplies"))
        metrics = []
        for member in supplies.get("Members", []):
            supply = self._get(_link_of(member) or "")
            if (supply.get("Status") or {}).get("State") == "Absent":
                continue
            link = _required(supply, "Metrics")
            _reading(self._get(link), _input_watts, link)
            metrics.append(link)
        if not metrics:
            raise _Failed("no power supply present")
        return tuple(metrics), _input_watts

    # --- reading ------------------------------------------------------------------------

    def _read(self) -> float:
        total = sum(_reading(self._get(p), self._plan.watts, p) for p in self._plan.paths)
        if not 0 < total <= _MAX_PLAUSIBLE_W:
            raise _Failed(f"implausible reading ({total:g} W)")
        return total

    def _get(self, path: str) -> Mapping[str, Any]:
        import httpx

        try:
            answer = self._client.get(path)
        except httpx.HTTPError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise _Failed("the BMC's certificate is not trusted") from exc
            raise _Failed(f"{type(exc).__name__} for {path}") from exc
        if answer.status_code in (401, 403):
            raise _Failed(f"the BMC refused the credentials (HTTP {answer.status_code})")
        if not answer.is_success:
            raise _Failed(f"HTTP {answer.status_code} for {path}")
        try:
            doc = answer.json()
        except ValueError as exc:
            raise _Failed(f"{path} is not JSON") from exc
        if not isinstance(doc, dict):
            raise _Failed(f"{path} is not a JSON object")
        return doc


def _verify(verify: bool | str) -> bool | ssl.SSLContext:
    """httpx's ``verify``: a CA or certificate file becomes a context that trusts it."""
    if isinstance(verify, bool):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise MeterUnavailable(
            WALL,
            f"redfish_credentials: verify = {verify!r} is no readable certificate file",
            "set verify to the CA or certificate file that signs the BMC's certificate",
        ) from exc


def _fix(problem: _Failed) -> str:
    if "certificate" in str(problem):
        return (
            "set verify in redfish_credentials to the file of the certificate that signs "
            "the BMC's (or verify = false, on a trusted management network only)"
        )
    if "credentials" in str(problem):
        return (
            "set redfish_credentials to a file only root can read (chmod 600) with "
            'username = "..." and password = "..." of a BMC account that may read'
        )
    return "check redfish_url (the BMC's address, or its chassis URL) and the BMC's network"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _environment_watts(doc: Mapping[str, Any]) -> float | None:
    return _number((doc.get("PowerWatts") or {}).get("Reading"))


def _power_control_watts(doc: Mapping[str, Any]) -> float | None:
    for control in doc.get("PowerControl") or []:
        watts = _number((control or {}).get("PowerConsumedWatts"))
        if watts is not None:
            return watts
    return None


def _input_watts(doc: Mapping[str, Any]) -> float | None:
    return _number((doc.get("InputPowerWatts") or {}).get("Reading"))


def _reading(
    doc: Mapping[str, Any], watts: Callable[[Mapping[str, Any]], float | None], path: str
) -> float:
    value = watts(doc)
    if value is None:
        raise _Failed(f"no reading in {path}")
    return value


def _links(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    links = doc.get("Links")
    return links if isinstance(links, dict) else {}


def _link_of(ref: Any) -> str | None:
    target = ref.get("@odata.id") if isinstance(ref, dict) else None
    return target if isinstance(target, str) and target.startswith("/") else None


def _link(doc: Mapping[str, Any], name: str) -> str | None:
    return _link_of(doc.get(name))


def _required(doc: Mapping[str, Any], name: str) -> str:
    link = _link(doc, name)
    if link is None:
        raise _Failed(f"no {name} link")
    return link
