"""Configuration: one immutable object, with where every value came from.

Precedence (highest first): keyword arguments, ``IMPACTLIB_<KEY>`` environment variables,
the project file (``impactlib.toml`` or ``[tool.impactlib]`` in ``pyproject.toml``, found by
walking up from the working directory), the user file (platformdirs config dir), the system
file ``/etc/impactlib/config.toml``, then the defaults below. Each run record stores the
effective values and their sources so a figure can always be traced back to its settings.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

SYSTEM_CONFIG = Path("/etc/impactlib/config.toml")


def _parse_float(minimum: float, strict_min: bool = False) -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        if isinstance(raw, bool):
            raise ValueError
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError
        if value < minimum or (strict_min and value == minimum):
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


def _parse_optional_str(raw: Any) -> str | None:
    value = str(raw).strip()
    return value or None


@dataclass(frozen=True)
class _Key:
    parse: Callable[[Any], Any]
    default: Any
    allowed: str


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
    "procfs_root": _Key(_parse_str, "/proc", "a directory"),
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
    "memory_w_per_gb": _Key(_parse_float(0.0), 0.3725, "watts per GB >= 0"),
    "embodied_lifetime_years": _Key(_parse_float(0.0, strict_min=True), None, "years > 0"),
    "embodied_use_ratio": _Key(_parse_float(0.0, strict_min=True), None, "a fraction in (0, 1]"),
    "power_model": _Key(
        _parse_optional_str, None, "a file path (the host power model; default: per host)"
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
    procfs_root: str = "/proc"
    intensity_source: str = "auto"
    rte_url: str = "https://odre.opendatasoft.com"
    gb_url: str = "https://api.carbonintensity.org.uk"
    electricitymaps_url: str = "https://api.electricitymaps.com"
    electricitymaps_key: str | None = None
    network_timeout: float = 2.0
    cache_dir: str | None = None
    cpu_tdp_w: float | None = None
    memory_w_per_gb: float = 0.3725
    embodied_lifetime_years: float | None = None
    embodied_use_ratio: float | None = None
    power_model: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def public_dict(self) -> dict[str, Any]:
        """Values fit to store in a run record (secrets masked)."""
        out = {k: getattr(self, k) for k in KEYS}
        if out.get("electricitymaps_key"):
            out["electricitymaps_key"] = "***"
        return out


def env_name(key: str) -> str:
    """The environment variable that sets ``key``."""
    return f"IMPACTLIB_{key.upper()}"


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
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: invalid value {raw!r} for '{key}'; allowed: {spec.allowed}"
        ) from None


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
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file's syntax") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); fix its permissions") from None
    for name in table:
        data = data.get(name, {}) if isinstance(data, dict) else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{'.'.join(table)}] must be a table of key = value")
    return data


def _project_file(start: Path) -> tuple[Path, tuple[str, ...]] | None:
    for folder in (start, *start.parents):
        candidate = folder / "impactlib.toml"
        if candidate.is_file():
            return candidate, ()
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and b"[tool.impactlib]" in pyproject.read_bytes():
            return pyproject, ("tool", "impactlib")
    return None


def user_config_path() -> Path:
    """Where the per-user configuration file lives."""
    import platformdirs

    return Path(platformdirs.user_config_dir("impactlib")) / "config.toml"


def _file_layers(cwd: Path) -> list[tuple[str, dict[str, Any]]]:
    """Configuration files from lowest to highest precedence."""
    layers: list[tuple[str, dict[str, Any]]] = []
    if SYSTEM_CONFIG.is_file():
        layers.append((str(SYSTEM_CONFIG), _load_toml(SYSTEM_CONFIG)))
    user = user_config_path()
    if user.is_file():
        layers.append((str(user), _load_toml(user)))
    found = _project_file(cwd)
    if found is not None:
        path, table = found
        label = f"{path} [{'.'.join(table)}]" if table else str(path)
        layers.append((label, _load_toml(path, table)))
    return layers


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Build the effective configuration; raise :class:`ConfigError` on any bad value."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {k: spec.default for k, spec in KEYS.items()}
    sources: dict[str, str] = dict.fromkeys(KEYS, "default")
    for where, table in _file_layers(cwd or Path.cwd()):
        for key, raw in table.items():
            values[key] = _check(key, raw, where)
            sources[key] = where
    for key in KEYS:
        name = env_name(key)
        if name in environ and environ[name] != "":
            values[key] = _check(key, environ[name], f"environment variable {name}")
            sources[key] = f"env {name}"
    for key, raw in (overrides or {}).items():
        if raw is None:
            continue
        values[key] = _check(key, raw, "argument")
        sources[key] = "argument"
    ratio = values["embodied_use_ratio"]
    if ratio is not None and ratio > 1:
        raise ConfigError(
            f"{sources['embodied_use_ratio']}: invalid value {ratio!r} for "
            "'embodied_use_ratio'; allowed: a fraction in (0, 1]"
        )
    return Config(**values, sources=sources)
