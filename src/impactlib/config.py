"""Configuration: one immutable object, with where every value came from.

Precedence (highest first): keyword arguments, ``IMPACTLIB_<KEY>`` environment variables,
the project file (``impactlib.toml`` or ``[tool.impactlib]`` in ``pyproject.toml``, found by
walking up from the working directory), the user file (platformdirs config dir), the system
file ``/etc/impactlib/config.toml``, then the defaults below. Each run record stores the
effective values and their sources so a figure can always be traced back to its settings.

Two modes, because the two faces fail differently. The CLI is strict: any bad value is a
:class:`ConfigError` (one line, exit 2) before anything runs. The library is lenient
(``load_config(..., lenient=True)``, what ``impactlib.init()`` uses): a training script must
never die because of a stray ``impactlib.toml`` or a mistyped ``IMPACTLIB_*`` variable, so a
bad setting from the environment falls back to the next lower layer (ultimately the default),
``sources[key]`` says so and :attr:`Config.problems` holds one line per problem for the
caller's warning. Explicit keyword arguments are the caller's own code, so they are checked
strictly in both modes and a wrong one raises :class:`ConfigError`, a :class:`ValueError`.

Names that are no setting. An ``IMPACTLIB_*`` variable that names none (a typo, or a setting
of another version) is only warned about, in both modes, naming the closest known variable
(:attr:`Config.unknown_variables`): the environment is the user's shell, shared with other
tools and versions, and such a variable changes no value. An unknown key in a configuration
file is treated like a bad value in it: an error in the CLI (the file is written for
impactlib, and a typo there would silently change what is measured), a warning in the
library; both name the closest key.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ConfigError
from .units import MEMORY_W_PER_GB

SYSTEM_CONFIG = Path("/etc/impactlib/config.toml")


def _parse_float(
    minimum: float, strict_min: bool = False, maximum: float = math.inf
) -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        if isinstance(raw, bool):
            raise ValueError
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError
        if value < minimum or (strict_min and value == minimum) or value > maximum:
            raise ValueError
        return value

    return parse


def _parse_choice(*choices: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in choices:
            raise ValueError
        return value

    return parse


def _parse_str(raw: Any) -> str:
    return str(raw).strip()


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise ValueError


def _parse_optional_str(raw: Any) -> str | None:
    value = str(raw).strip()
    return value or None


def _parse_redfish_url(raw: Any) -> str | None:
    """A BMC URL without a password in it (settings are stored in records; the password
    belongs in the root-only ``redfish_credentials`` file)."""
    from urllib.parse import urlsplit

    value = _parse_optional_str(raw)
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.password:
            raise ValueError
    return value


def _parse_ipmi_command(raw: Any) -> str | None:
    """A command line without a secret on it (a password: ipmitool -P, FreeIPMI -p and
    --password; a K_g key: -k, -y, --k-g): settings are stored in records. ``-E`` with
    IPMI_PASSWORD (ipmitool), or a password file, is how to give one."""
    import shlex

    value = _parse_optional_str(raw)
    if value is not None:
        argv = shlex.split(value)
        freeipmi = bool(argv) and Path(argv[0]).name.startswith(("ipmi-", "ipmimonitoring"))
        secret = ("-P", "-k", "-y", "--password", "--k-g") + (("-p",) if freeipmi else ())
        if any(arg.split("=", 1)[0].startswith(secret) for arg in argv):
            raise ValueError
    return value


def _parse_tables(raw: Any) -> Mapping[str, Any] | str:
    """A table of tables, or the path of an existing file of them: the shape only. What the
    tables hold is checked by the one who reads them (``slurm_partitions``:
    :func:`impactlib.slurm.partitions.configured_partitions`)."""
    if isinstance(raw, str) and raw.strip():
        if not Path(raw.strip()).expanduser().is_file():
            raise ValueError
        return raw.strip()
    if isinstance(raw, Mapping) and all(isinstance(table, Mapping) for table in raw.values()):
        return {str(name): dict(table) for name, table in raw.items()}
    raise ValueError


@dataclass(frozen=True)
class _Key:
    parse: Callable[[Any], Any]
    default: Any
    allowed: str


_PARTITIONS_ALLOWED = (
    "a table of SLURM partitions (each with cpu, cpu_w_per_core, gpu, gpu_w, cores_per_node, "
    "exclusive), or the path of a TOML file of such tables"
)

# The single list of keys: adding a setting means adding one line here and one field below.
KEYS: dict[str, _Key] = {
    "project": _Key(_parse_str, "default", "any text"),
    "experiment": _Key(_parse_str, "", "any text"),
    "country": _Key(_parse_optional_str, None, "an ISO-3166 code such as FR or FRA"),
    "region": _Key(
        _parse_optional_str, None, "a sub-national region (US-CA, CA-QC, SE3, a cloud region)"
    ),
    "zone": _Key(
        _parse_optional_str, None, "a carbon-intensity zone (FR, GB, GB-13, US-CA, SE3...)"
    ),
    "pue": _Key(_parse_float(1.0), 1.0, "a number >= 1.0"),
    "interval": _Key(_parse_float(0.0, strict_min=True), 1.0, "seconds > 0"),
    "save_interval": _Key(_parse_float(0.0, strict_min=True), 10.0, "seconds > 0"),
    "store": _Key(_parse_optional_str, None, "a file path or an SQLAlchemy URL"),
    "scope": _Key(_parse_choice("tree", "machine"), "tree", "tree or machine"),
    "idle_policy": _Key(
        _parse_choice("usage", "allocation", "none"), "usage", "usage, allocation or none"
    ),
    "powercap_root": _Key(_parse_str, "/sys/class/powercap", "a directory"),
    "wall_power": _Key(
        _parse_choice("auto", "hwmon", "ipmi", "redfish", "none"),
        "auto",
        "auto, hwmon, ipmi, redfish or none (the server's power at the wall)",
    ),
    "hwmon_root": _Key(_parse_str, "/sys/class/hwmon", "a directory"),
    "redfish_url": _Key(
        _parse_redfish_url, None, "the BMC's http(s) URL, or a chassis URL, with no password"
    ),
    "redfish_credentials": _Key(
        _parse_optional_str, None, "a root-only TOML file with username and password"
    ),
    "ipmi_command": _Key(
        _parse_ipmi_command,
        None,
        "a command printing a DCMI power reading, with no password on it (ipmitool -E ...)",
    ),
    "procfs_root": _Key(_parse_str, "/proc", "a directory"),
    "cgroup_root": _Key(_parse_str, "/sys/fs/cgroup", "a directory"),
    "intensity_source": _Key(
        _parse_choice("auto", "static", "rte", "gb", "electricitymaps"),
        "auto",
        "auto, static, rte, gb or electricitymaps",
    ),
    "rte_url": _Key(_parse_str, "https://odre.opendatasoft.com", "a base URL"),
    "gb_url": _Key(_parse_str, "https://api.carbonintensity.org.uk", "a base URL"),
    "electricitymaps_url": _Key(_parse_str, "https://api.electricitymaps.com", "a base URL"),
    "electricitymaps_key": _Key(_parse_optional_str, None, "an Electricity Maps API key"),
    "network_timeout": _Key(_parse_float(0.0, strict_min=True), 2.0, "seconds > 0"),
    "cache_dir": _Key(_parse_optional_str, None, "a directory"),
    "cpu_tdp_w": _Key(
        _parse_float(0.0, strict_min=True), None, "watts > 0 (overrides the TDP table)"
    ),
    "memory_w_per_gb": _Key(_parse_float(0.0), MEMORY_W_PER_GB, "watts per GB >= 0"),
    "embodied_lifetime_years": _Key(_parse_float(0.0, strict_min=True), None, "years > 0"),
    "embodied_use_ratio": _Key(
        _parse_float(0.0, strict_min=True, maximum=1.0), None, "a fraction in (0, 1]"
    ),
    "power_model": _Key(
        _parse_optional_str, None, "a file path (the host power model; default: per host)"
    ),
    "daemon_socket": _Key(_parse_str, "/run/impactlib/impactlib.sock", "a Unix socket path"),
    "metrics_address": _Key(_parse_optional_str, "127.0.0.1:9877", "HOST:PORT, or empty for none"),
    "metrics_containers": _Key(
        _parse_bool, False, "true or false (a /metrics series per container)"
    ),
    "slurm_partitions": _Key(_parse_tables, None, _PARTITIONS_ALLOWED),
    "budget_warn_share": _Key(
        _parse_float(0.0), 0.8, "a number >= 0 (0.8: at 80 % used; 0: never)"
    ),
    "slurm_project": _Key(
        _parse_choice("account", "default"),
        "account",
        "account (a tracked SLURM job's project is its account) or default (the project "
        "setting's value)",
    ),
    "boamps_publisher": _Key(
        _parse_optional_str, None, "the organisation publishing BoAmps reports (any text)"
    ),
}


@dataclass(frozen=True)
class Config:
    """Effective settings of one tracker; ``sources[key]`` says where each value came from."""

    project: str = "default"
    experiment: str = ""
    country: str | None = None
    region: str | None = None
    zone: str | None = None
    pue: float = 1.0
    interval: float = 1.0
    save_interval: float = 10.0
    store: str | None = None
    scope: str = "tree"
    idle_policy: str = "usage"
    powercap_root: str = "/sys/class/powercap"
    # The wall sensor: meters.wall.open_wall_meter (auto: hwmon, else Redfish, else IPMI).
    wall_power: str = "auto"
    hwmon_root: str = "/sys/class/hwmon"
    redfish_url: str | None = None
    redfish_credentials: str | None = None  # a root-only file: the password is never a setting
    ipmi_command: str | None = None  # None: ipmitool dcmi power reading, else FreeIPMI's
    procfs_root: str = "/proc"
    cgroup_root: str = "/sys/fs/cgroup"
    intensity_source: str = "auto"
    rte_url: str = "https://odre.opendatasoft.com"
    gb_url: str = "https://api.carbonintensity.org.uk"
    electricitymaps_url: str = "https://api.electricitymaps.com"
    electricitymaps_key: str | None = None
    network_timeout: float = 2.0
    cache_dir: str | None = None
    cpu_tdp_w: float | None = None
    memory_w_per_gb: float = MEMORY_W_PER_GB
    embodied_lifetime_years: float | None = None
    embodied_use_ratio: float | None = None
    power_model: str | None = None
    daemon_socket: str = "/run/impactlib/impactlib.sock"
    metrics_address: str | None = "127.0.0.1:9877"
    # A Prometheus series per container: off by default (containers come and go: cardinality).
    metrics_containers: bool = False
    # As configured (tables, or a file of them): read by impactlib.slurm.partitions.
    slurm_partitions: Mapping[str, Any] | str | None = None
    # A tracker warns once when its project has used this share of a budget in force.
    budget_warn_share: float = 0.8
    # Inside a SLURM job, where no project is set: the job's account, or the project default.
    slurm_project: str = "account"
    # The header's publisher in `impactlib export --format boamps` (None: no publisher block).
    boamps_publisher: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    # One line per environment problem worked around in lenient mode (empty when strict).
    problems: tuple[str, ...] = field(default=(), compare=False)
    # One line per IMPACTLIB_* variable that names no setting, in both modes: it changes no
    # value, so it is said to the user (a warning) but is no part of a run's record.
    unknown_variables: tuple[str, ...] = field(default=(), compare=False)

    def public_dict(self) -> dict[str, Any]:
        """Values fit to store in a run record or show: secrets masked (the Electricity Maps
        key; a store URL's password, keeping its user and host)."""
        from .masking import masked_values

        return masked_values({k: getattr(self, k) for k in KEYS})


ENV_PREFIX = "IMPACTLIB_"
# Not a configuration key: it names one run (``impactlib run`` sets it for its command), and
# must never become a setting for the next.
RUN_ID_VARIABLE = "IMPACTLIB_RUN_ID"
# Variables impactlib reads or sets that are not settings of a run, so never a typo.
OTHER_VARIABLES = (
    RUN_ID_VARIABLE,
    "IMPACTLIB_DASHBOARD_TOKEN",  # `impactlib dashboard --token`
    "IMPACTLIB_SYNC_TO",  # the sync timer's central store (deploy/impactlib-sync.service)
)


def env_name(key: str) -> str:
    """The environment variable that sets ``key``."""
    return f"{ENV_PREFIX}{key.upper()}"


def _unknown_variable_lines(environ: Mapping[str, str]) -> list[str]:
    """One line per ``IMPACTLIB_*`` variable that is no setting, naming the closest one:
    a typo, or a setting this version lacks, would otherwise be ignored without a word."""
    import difflib

    # Compared without the prefix they all share, which would make any two names look alike.
    known = {name.removeprefix(ENV_PREFIX): name for name in map(env_name, KEYS)}
    known.update((name.removeprefix(ENV_PREFIX), name) for name in OTHER_VARIABLES)
    lines = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name.removeprefix(ENV_PREFIX) in known:
            continue
        close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), known, n=1, cutoff=0.6)
        hint = f"did you mean {known[close[0]]}? " if close else ""
        lines.append(f"environment variable {name} is not an impactlib setting; {hint}ignored")
    return lines


ARGUMENT = "argument"


class _Setting(NamedTuple):
    """One raw value from one layer; layers are read from the lowest precedence up."""

    key: str
    raw: Any
    where: str  # names the layer in messages: a file, an environment variable, "argument"
    label: str  # what ``Config.sources`` says when this value is the one used


class _Rejected(NamedTuple):
    """A setting that failed its check in lenient mode, and where it stood in the order."""

    position: int
    setting: _Setting
    error: ConfigError


class _Problems:
    """Environment problems: raised at once when strict, collected as lines when lenient."""

    def __init__(self, lenient: bool) -> None:
        self.lenient = lenient
        self.lines: list[str] = []

    def add(self, error: ConfigError, outcome: str) -> None:
        """Record ``error`` and what was done instead, or raise it in strict mode."""
        if not self.lenient:
            raise error
        self.lines.append(f"{error}; {outcome}")


# Settings refused *because* they hold a password: their bad value is never echoed.
_UNSHOWN = ("redfish_url", "ipmi_command")


def _check(key: str, raw: Any, where: str) -> Any:
    spec = KEYS.get(key)
    if spec is None:
        close = _close_keys(key)
        hint = f" (did you mean {close}?)" if close else ""
        raise ConfigError(f"{where}: unknown key '{key}'{hint}; known keys: {', '.join(KEYS)}")
    if raw is None:
        return None
    try:
        return spec.parse(raw)
    except (TypeError, ValueError) as exc:
        shown = "(not shown: it may hold a password)" if key in _UNSHOWN else repr(raw)
        raise ConfigError(
            f"{where}: invalid value {shown} for '{key}'; allowed: {spec.allowed}"
        ) from exc


def _close_keys(key: str) -> str:
    import difflib

    return ", ".join(difflib.get_close_matches(key, list(KEYS), n=3, cutoff=0.6))


def _load_toml(path: Path, table: tuple[str, ...] = ()) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            data: Any = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file's syntax") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); fix its permissions") from exc
    for name in table:
        data = data.get(name, {}) if isinstance(data, dict) else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{'.'.join(table)}] must be a table of key = value")
    return data


def _declares_table(pyproject: Path) -> bool:
    """Whether a ``pyproject.toml`` has a ``[tool.impactlib]`` table.

    One we cannot read is not ours to judge: it is skipped rather than reported, since most
    pyproject files have nothing to do with impactlib.
    """
    try:
        return b"[tool.impactlib]" in pyproject.read_bytes()
    except OSError:
        return False


def _project_file(start: Path) -> tuple[Path, tuple[str, ...]] | None:
    for folder in (start, *start.parents):
        candidate = folder / "impactlib.toml"
        if candidate.is_file():
            return candidate, ()
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _declares_table(pyproject):
            return pyproject, ("tool", "impactlib")
    return None


def user_config_path() -> Path:
    """Where the per-user configuration file lives."""
    import platformdirs

    return Path(platformdirs.user_config_dir("impactlib")) / "config.toml"


def _working_dir() -> Path:
    try:
        return Path.cwd()
    except OSError as exc:  # the directory was deleted under the running process
        raise ConfigError(
            f"the working directory cannot be read ({exc.strerror}), so no impactlib.toml "
            "was looked for; run from an existing directory"
        ) from exc


def _config_files(cwd: Path | None, problems: _Problems) -> list[tuple[Path, tuple[str, ...]]]:
    """Configuration files (and the table inside each) from lowest to highest precedence."""
    files: list[tuple[Path, tuple[str, ...]]] = []
    if SYSTEM_CONFIG.is_file():
        files.append((SYSTEM_CONFIG, ()))
    user = user_config_path()
    if user.is_file():
        files.append((user, ()))
    try:
        found = _project_file(cwd or _working_dir())
    except ConfigError as exc:
        problems.add(exc, "no project file used")
        found = None
    if found is not None:
        files.append(found)
    return files


def _file_settings(cwd: Path | None, problems: _Problems) -> Iterator[_Setting]:
    for path, table in _config_files(cwd, problems):
        label = f"{path} [{'.'.join(table)}]" if table else str(path)
        try:
            data = _load_toml(path, table)
        except ConfigError as exc:
            problems.add(exc, "the whole file was ignored")
            continue
        for key, raw in data.items():
            yield _Setting(key, raw, label, label)


def _env_settings(environ: Mapping[str, str]) -> Iterator[_Setting]:
    for key in KEYS:
        name = env_name(key)
        if environ.get(name, "") != "":
            yield _Setting(key, environ[name], f"environment variable {name}", f"env {name}")


def _argument_settings(overrides: Mapping[str, Any]) -> Iterator[_Setting]:
    for key, raw in overrides.items():
        if raw is not None:
            yield _Setting(key, raw, ARGUMENT, ARGUMENT)


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    lenient: bool = False,
) -> Config:
    """Build the effective configuration.

    Strict (the default, for the CLI): any bad value raises :class:`ConfigError`. Lenient
    (for the library): bad files and variables are skipped, each described by one line of
    :attr:`Config.problems`, and their keys keep the value of the next lower layer; a bad
    keyword argument (``overrides``) raises in both modes.
    """
    problems = _Problems(lenient)
    environ = os.environ if environ is None else environ
    settings = [
        *_file_settings(cwd, problems),
        *_env_settings(environ),
        *_argument_settings(overrides or {}),
    ]
    values: dict[str, Any] = {k: spec.default for k, spec in KEYS.items()}
    sources: dict[str, str] = dict.fromkeys(KEYS, "default")
    given_at = dict.fromkeys(KEYS, -1)  # position of the setting each value came from
    rejected: list[_Rejected] = []
    for position, setting in enumerate(settings):
        try:
            value = _check(setting.key, setting.raw, setting.where)
        except ConfigError as exc:
            if setting.where == ARGUMENT or not lenient:
                raise
            rejected.append(_Rejected(position, setting, exc))
            continue
        values[setting.key] = value
        sources[setting.key] = setting.label
        given_at[setting.key] = position
    for item in rejected:
        key = item.setting.key
        used = f"using {values[key]!r} ({sources[key]}) instead" if key in KEYS else "ignored"
        problems.add(item.error, used)
    for item in rejected:  # after the messages, which name the plain source of the value used
        key = item.setting.key
        if key in KEYS and given_at[key] < item.position:
            sources[key] = f"{sources[key]} ({item.setting.label} ignored)"
    return Config(
        **values,
        sources=sources,
        problems=tuple(problems.lines),
        unknown_variables=tuple(_unknown_variable_lines(environ)),
    )
