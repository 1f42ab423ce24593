"""The host power model: how much each energy domain draws at idle and per busy CPU.

Why it exists: attribution splits a domain's energy into idle (by the idle policy) and
dynamic (by usage share), so it needs each domain's idle power. "The lowest power seen while
the job ran" is wrong exactly where it matters: on a machine that is never idle while
watched, that minimum holds the job's own dynamic power, and a job's figure then swings with
its neighbours' load. The model states instead, per domain::

    power_w = idle_w + w_per_busy_cpu x (busy CPUs of the whole machine)

fitted on (mean power, mean busy CPUs) points, one per interval. A GPU's power does not
follow the CPUs' load, so a GPU domain is modelled by its idle watts alone (slope 0).

Where the points come from (``method``):

* ``calibrated``: ``impactlib calibrate`` steps the load with burner processes. The fit is
  on the machine's *total* busy CPUs, so other users' work running at the same time is just
  more points along the same line.
* ``learned``: a tracker's own samples, when they span enough load. Never for a GPU: a job's
  GPU work is invisible in busy CPUs, so the "idle" learned would hold it.

The fit is Theil-Sen (median of pairwise slopes), pure Python so that ``import impactlib``
and the trackers stay light. It is refused (``None``, with the reason from :func:`try_fit`)
with fewer than ``MIN_POINTS`` points, when the middle 80 % of the points spans less than
``MIN_SPAN_CPUS`` busy CPUs (a slope cannot be told from noise; not required for a GPU), when
fewer than half the points lie on the line, when the points on it scatter by more than
``MAX_REL_RESIDUAL`` of the power, or when the line gives a negative idle power. Power never
falls as load rises, so a negative slope is noise on a domain the CPUs do not drive (DRAM
under a compute loop): such a domain is modelled flat at its median power.

Merging (:func:`merge`; loading folds the files it finds the same way, oldest first):

* a calibration always replaces: it is a deliberate measurement of this host;
* a learned fit replaces an older learned one when it covers at least half its load range,
  or when that one is more than ``STALE_DAYS`` old (the host may have changed);
* a learned fit replaces a calibration only when it is clearly better founded: it covers at
  least twice the calibration's load range (once, if the calibration is more than
  ``STALE_DAYS`` old) and fits at least as well (``r2``).

The host factor (:class:`HostFactor`, ``impactlib validate --save``) is the ratio of a
reference meter's energy (a wattmeter, the BMC) to the machine energy impactlib measured over
one run: it says how far this host's meters are from the wall, with its provenance. It is
kept beside the domains and replaced by each new validation; no figure is scaled by it.
So is the calibrated platform power of a host without a wall meter
(:class:`~impactlib.attribution.platform_power.PlatformPower`, ``impactlib calibrate
--wall-watts``), the newest one wherever it was saved.

Where it is kept: the ``power_model`` setting (a file path) when set; otherwise
``/var/lib/impactlib/power-model/<host>.json`` where that is writable (so every user's
tracker finds it), else the per-user data directory. Loading reads both default places.
Runs, the daemon and ``impactlib calibrate`` add their fits with :func:`refine`: under a lock
on a file beside the model, re-read from disk, merged, written atomically, so concurrent
refiners keep each other's fits.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ..footprint import FloorSource
from .platform_power import PlatformPower, decode_platform

if TYPE_CHECKING:
    from datetime import datetime

    from ..config import Config

FitMethod = Literal["calibrated", "learned"]

MIN_POINTS = 6
MIN_SPAN_CPUS = 0.5  # between the 10th and 90th percentile of the points' busy CPUs
MAX_REL_RESIDUAL = 0.15  # RMS residual of the points on the line / their mean power
MAX_FIT_POINTS = 256  # Theil-Sen is quadratic: longer series are thinned evenly first
MIN_PAIR_DX = 0.05  # busy CPUs: closer pairs give slopes made of noise
OUTLIER_SIGMAS = 3.0
STALE_DAYS = 30.0

SYSTEM_DIR = Path("/var/lib/impactlib/power-model")
FILE_FORMAT = "impactlib host power model"
FILE_VERSION = 1


class PowerPoint(NamedTuple):
    """One interval of one domain: its mean power and the MACHINE's mean busy CPUs."""

    power_w: float
    busy_cpus: float


@dataclass(frozen=True)
class DomainPowerModel:
    """``power = idle_w + w_per_busy_cpu x busy CPUs`` for one domain, with its provenance.

    ``r2`` is computed over the points on the line (outliers beyond three robust standard
    deviations left out; 0 for a flat domain, whose load explains nothing); ``points`` is
    how many points were given; ``busy_cpus_min``/``max`` is the load range the points on
    the line covered, so a reader can see when ``idle_w`` is extrapolated.
    """

    domain: str
    idle_w: float
    w_per_busy_cpu: float
    method: FitMethod
    fitted_at: str  # ISO 8601, UTC
    r2: float
    points: int
    busy_cpus_min: float
    busy_cpus_max: float
    # RMS residual of the points on the line (W): the idle floor's spread in a footprint's
    # range (impactlib.uncertainty); None in a file written before it was kept.
    residual_w: float | None = None

    @property
    def span_cpus(self) -> float:
        """The load range the fit covered, in busy CPUs."""
        return self.busy_cpus_max - self.busy_cpus_min

    def power_w(self, busy_cpus: float) -> float:
        """The modelled power at a machine load."""
        return self.idle_w + self.w_per_busy_cpu * busy_cpus

    @property
    def floor_spread(self) -> float | None:
        """The fit's RMS residual as a fraction of the idle power (at most 1), or None."""
        if self.residual_w is None or self.idle_w <= 0:
            return None
        return min(self.residual_w / self.idle_w, 1.0)


@dataclass(frozen=True)
class HostFactor:
    """Reference energy / measured machine energy over one run (``impactlib validate``),
    and where it came from: which reference file, which run, when."""

    factor: float
    reference_kwh: float
    measured_kwh: float
    reference: str  # the reference file's name (a wattmeter's or BMC's export)
    run_id: str
    validated_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class HostPowerModel:
    """Every modelled domain of one host, and its validated host factor if any."""

    host: str
    domains: Mapping[str, DomainPowerModel] = field(default_factory=dict)
    host_factor: HostFactor | None = None
    platform: PlatformPower | None = None  # calibrate --wall-watts, without a wall meter

    def floor_w(self, domain: str) -> tuple[float, FloorSource] | None:
        """The idle power of ``domain`` and where it came from (None: not modelled)."""
        model = self.domains.get(domain)
        if model is None:
            return None
        return model.idle_w, FloorSource(model.method)

    def floor_spread(self, domain: str) -> float | None:
        """The relative spread of ``domain``'s idle power (its fit's RMS residual over the
        idle power), or None where unknown."""
        model = self.domains.get(domain)
        return None if model is None else model.floor_spread


Refusal = Literal["gpu-learned", "few-points", "narrow-load", "no-energy", "erratic", "negative"]


class FitOutcome(NamedTuple):
    """A fitted model, or why there is none: ``problem`` in one line for the user,
    ``refusal`` for a caller that suggests its own fix."""

    model: DomainPowerModel | None
    problem: str | None = None
    refusal: Refusal | None = None


# --- fitting ---------------------------------------------------------------------------------


def fit(points: Sequence[PowerPoint], domain: str, method: FitMethod) -> DomainPowerModel | None:
    """The domain's model from its points, or None when they cannot support one."""
    return try_fit(points, domain, method).model


def try_fit(points: Sequence[PowerPoint], domain: str, method: FitMethod) -> FitOutcome:
    """Like :func:`fit`, with the reason when no model can be fitted."""
    usable = [p for p in points if math.isfinite(p.power_w) and math.isfinite(p.busy_cpus)]
    flat = domain.split(":", 1)[0] == "gpu"
    if flat and method == "learned":
        return _refused(
            "gpu-learned", f"{domain}: a GPU's idle power is only calibrated, not learned"
        )
    if usable and all(p.power_w <= 0 for p in usable):
        return _refused("no-energy", f"{domain}: no energy counted (its counter did not move)")
    if len(usable) < MIN_POINTS:
        return _refused("few-points", f"{domain}: {len(usable)} points, need {MIN_POINTS}")
    busy = sorted(p.busy_cpus for p in usable)
    span = _quantile(busy, 0.9) - _quantile(busy, 0.1)
    if not flat and span < MIN_SPAN_CPUS:
        return _refused(
            "narrow-load",
            f"{domain}: the machine's load varied by {span:.2f} busy CPUs, "
            f"need {MIN_SPAN_CPUS} to tell power per CPU from noise",
        )
    idle_w, slope = _flat_line(usable) if flat else _theil_sen(usable)
    if slope < 0:
        idle_w, slope = _flat_line(usable)
    return _judge(usable, domain, method, idle_w, slope)


def _refused(refusal: Refusal, problem: str) -> FitOutcome:
    return FitOutcome(None, problem, refusal)


def _theil_sen(points: Sequence[PowerPoint]) -> tuple[float, float]:
    """(intercept, slope): the median pairwise slope, then the median intercept."""
    ordered = sorted(points, key=lambda p: p.busy_cpus)
    if len(ordered) > MAX_FIT_POINTS:
        last = len(ordered) - 1
        ordered = [ordered[round(i * last / (MAX_FIT_POINTS - 1))] for i in range(MAX_FIT_POINTS)]
    slopes = [
        (b.power_w - a.power_w) / (b.busy_cpus - a.busy_cpus)
        for i, a in enumerate(ordered)
        for b in ordered[i + 1 :]
        if b.busy_cpus - a.busy_cpus >= MIN_PAIR_DX
    ]
    slope = _median(slopes)
    return _median([p.power_w - slope * p.busy_cpus for p in points]), slope


def _flat_line(points: Sequence[PowerPoint]) -> tuple[float, float]:
    return _median([p.power_w for p in points]), 0.0


def _judge(
    points: Sequence[PowerPoint], domain: str, method: FitMethod, idle_w: float, slope: float
) -> FitOutcome:
    """Keep the line only if most points lie on it, closely, and its idle power is real."""
    residuals = [p.power_w - (idle_w + slope * p.busy_cpus) for p in points]
    centre = _median(residuals)
    sigma = 1.4826 * _median([abs(r - centre) for r in residuals])
    level = abs(_median([p.power_w for p in points]))
    # Deviations under 1 % of the power are never outliers (an exact line has sigma 0).
    limit = max(OUTLIER_SIGMAS * sigma, 0.01 * level)
    on_line = [(p, r) for p, r in zip(points, residuals, strict=True) if abs(r) <= limit]
    if len(on_line) * 2 < len(points):
        return _refused("erratic", f"{domain}: most points lie off any line (power too erratic)")
    mean_power = sum(p.power_w for p, _ in on_line) / len(on_line)
    rms = math.sqrt(sum(r * r for _, r in on_line) / len(on_line))
    if mean_power <= 0 or rms > MAX_REL_RESIDUAL * mean_power:
        return _refused(
            "erratic",
            f"{domain}: points scatter by {rms:.1f} W around the line (power too erratic)",
        )
    if idle_w < 0:
        return _refused(
            "negative", f"{domain}: the line gives a negative idle power ({idle_w:.1f} W)"
        )
    spread = sum((p.power_w - mean_power) ** 2 for p, _ in on_line)
    r2 = max(0.0, 1.0 - sum(r * r for _, r in on_line) / spread) if spread > 0 else 0.0
    from .._time import iso_utc, now_utc

    busy = [p.busy_cpus for p, _ in on_line]
    model = DomainPowerModel(
        domain=domain,
        idle_w=idle_w,
        w_per_busy_cpu=slope,
        method=method,
        fitted_at=iso_utc(now_utc(), timespec="seconds"),
        r2=r2,
        points=len(points),
        busy_cpus_min=min(busy),
        busy_cpus_max=max(busy),
        residual_w=rms,
    )
    return FitOutcome(model, None)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of sorted values."""
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# --- merging ---------------------------------------------------------------------------------


def merge(
    existing: HostPowerModel | None,
    new: Mapping[str, DomainPowerModel],
    *,
    host: str | None = None,
    now: datetime | None = None,
) -> HostPowerModel:
    """``existing`` updated with newer fits, by the rules in the module docstring."""
    from ..identity import host_name

    domains = dict(existing.domains) if existing is not None else {}
    for domain, model in new.items():
        old = domains.get(domain)
        if old is None or _replaces(model, old, now):
            domains[domain] = model
    name = host or (existing.host if existing is not None else host_name())
    if existing is None:
        return HostPowerModel(name, domains)
    return replace(existing, host=name, domains=domains)  # what is not a fit is kept


def _replaces(new: DomainPowerModel, old: DomainPowerModel, now: datetime | None) -> bool:
    if new.method == "calibrated":
        return True
    stale = age_days(old.fitted_at, now) > STALE_DAYS
    if old.method == "learned":
        return stale or new.span_cpus >= 0.5 * old.span_cpus
    factor = 1.0 if stale else 2.0
    return new.span_cpus >= factor * old.span_cpus and new.r2 >= old.r2


def age_days(fitted_at: str, now: datetime | None = None) -> float:
    """Days since ``fitted_at`` (infinite when it cannot be parsed: treated as stale)."""
    from .._time import now_utc, parse_utc, utc

    try:
        when = parse_utc(fitted_at)
    except ValueError:
        return math.inf
    return ((utc(now) if now is not None else now_utc()) - when).total_seconds() / 86400.0


def age_text(fitted_at: str, now: datetime | None = None) -> str:
    """A model's age for people: ``just now``, ``12 min``, ``5 h``, ``3 days``, ``unknown``."""
    days = age_days(fitted_at, now)
    if not math.isfinite(days):
        return "unknown"
    minutes = days * 1440
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes:.0f} min"
    if days < 2:
        return f"{days * 24:.0f} h"
    return f"{days:.0f} days"


# --- files -----------------------------------------------------------------------------------


def model_locations(config: Config, host: str) -> list[Path]:
    """Where the model is looked for: the ``power_model`` path alone when set, else the
    system-wide file then the per-user one."""
    if config.power_model:
        return [Path(config.power_model).expanduser()]
    return [SYSTEM_DIR / _file_name(host), _user_dir() / _file_name(host)]


def load_power_model(config: Config, host: str) -> tuple[HostPowerModel | None, str | None]:
    """The host's model from every location that has one, and a problem line if a file
    could not be used. Never raises: a tracker must not fail over its idle floor."""
    found: list[HostPowerModel] = []
    problems: list[str] = []
    try:
        locations = model_locations(config, host)
    except (OSError, RuntimeError) as exc:  # "~user" unknown, no home directory
        return None, f"power_model {config.power_model!r}: not a usable path ({exc})"
    for path in locations:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot be read ({exc}); fix its permissions")
            continue
        try:
            found.append(_decode(text, host))
        except ValueError as exc:
            problems.append(
                f"{path}: not a valid host power model ({exc}); "
                "run `impactlib calibrate` again or delete the file"
            )
    problem = "; ".join(problems) or None
    if not found:
        return None, problem
    ordered = sorted((m for model in found for m in model.domains.values()), key=_fit_time)
    model = None
    for domain_model in ordered:
        model = merge(model, {domain_model.domain: domain_model}, host=host)
    factors = [m.host_factor for m in found if m.host_factor is not None]
    if factors:  # the newest validation, wherever it was saved
        newest = max(factors, key=lambda f: -age_days(f.validated_at))
        model = replace(model or HostPowerModel(host), host_factor=newest)
    platforms = [m.platform for m in found if m.platform is not None]
    if platforms:  # the newest --wall-watts, wherever it was saved
        latest = max(platforms, key=lambda p: -age_days(p.set_at))
        model = replace(model or HostPowerModel(host), platform=latest)
    return model, problem


def save_power_model(model: HostPowerModel, config: Config) -> Path:
    """Write the model atomically where :func:`model_locations` looks first and can write,
    replacing what is there (a calibration's or a test's own model; runs that add their fits
    to what others saved use :func:`refine`).

    Raises :class:`~impactlib.errors.ImpactError` when an explicit ``power_model`` path
    cannot be written (its directory must exist) or no default location is writable.
    """
    from .._files import atomic_write

    return atomic_write(_writable_location(config, model.host), _encode(model))


def refine(
    config: Config, host: str, fits: Mapping[str, DomainPowerModel]
) -> tuple[HostPowerModel, Path]:
    """Merge ``fits`` into the host's saved model, read and written back under its lock
    (:func:`_update`, which says why and what it raises); return it and where it went."""
    return _update(config, host, lambda existing: merge(existing, fits, host=host))


def save_host_factor(config: Config, host: str, factor: HostFactor) -> Path:
    """Store ``factor`` in the host's model (replacing an earlier one, keeping the fits),
    under the same lock as :func:`refine`; return where it went. Raises like it."""
    return _update(
        config, host, lambda existing: replace(existing or HostPowerModel(host), host_factor=factor)
    )[1]


def save_platform(config: Config, host: str, platform: PlatformPower) -> Path:
    """Store ``platform`` in the host's model (replacing an earlier one, keeping the rest),
    under the same lock as :func:`refine`; return where it went. Raises like it."""
    return _update(
        config, host, lambda existing: replace(existing or HostPowerModel(host), platform=platform)
    )[1]


def _update(
    config: Config, host: str, change: Callable[[HostPowerModel | None], HostPowerModel]
) -> tuple[HostPowerModel, Path]:
    """Write back ``change`` of the host's saved model (None: none saved, or a bad file,
    which is replaced); return the new model and where it went.

    Trackers, the daemon and ``impactlib calibrate`` change the same file, at any time. Each
    takes an exclusive lock on a lock file beside it, re-reads the model from disk *under the
    lock* and changes that, then writes atomically: changing a copy read earlier (at a run's
    start) would write back a model without the fits others saved meanwhile. Raises
    :class:`~impactlib.errors.ImpactError` (or ``OSError``) when the model cannot be written.
    """
    from .._files import atomic_write

    target = _writable_location(config, host)
    with _locked(target):
        existing, _problem = load_power_model(config, host)
        model = change(existing)
        atomic_write(target, _encode(model))
    return model, target


def learn(
    points: Mapping[str, Sequence[PowerPoint]], config: Config, host: str
) -> dict[str, DomainPowerModel]:
    """Fit a ``learned`` model for every domain whose (power, busy CPUs) points span enough
    load, add the fits to the host's saved model (:func:`refine`) and return them, so the
    caller can use a fresh fit where it had no floor. Never raises over the file: a run's
    figures do not depend on the model being saved."""
    from ..errors import ImpactError
    from ..log import log

    fits = {d: m for d, p in points.items() if p and (m := fit(p, d, "learned")) is not None}
    if fits:
        try:
            refine(config, host, fits)
        except (ImpactError, OSError) as exc:
            log.info("impactlib: power model not saved: %s", exc)
    return fits


def _writable_location(config: Config, host: str) -> Path:
    """The explicit ``power_model`` path, else the system-wide file where its directory is
    writable, else the per-user one (directories created as needed)."""
    if config.power_model:
        return Path(config.power_model).expanduser()
    system, user = model_locations(config, host)
    try:
        system.parent.mkdir(parents=True, exist_ok=True)
        if os.access(system.parent, os.W_OK):
            return system
    except OSError:
        pass
    user.parent.mkdir(parents=True, exist_ok=True)
    return user


@contextmanager
def _locked(model_file: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<model file>.lock`` (created beside it, kept: removing
    it would let two refiners lock two different files). A read-only open is enough to lock,
    so a lock file another user created (the daemon, as root) still serialises this one."""
    import fcntl

    from ..errors import ImpactError

    lock_path = model_file.with_name(model_file.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ImpactError(
            f"{lock_path}: cannot be created ({exc.strerror}); the power model's directory "
            "must exist and be writable"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _user_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("impactlib")) / "power-model"


def _file_name(host: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host).lstrip(".")
    return f"{safe or 'host'}.json"


def _fit_time(model: DomainPowerModel) -> float:
    return -age_days(model.fitted_at)


def _encode(model: HostPowerModel) -> str:
    import json
    from dataclasses import asdict

    body = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "host": model.host,
        "domains": [asdict(m) for m in model.domains.values()],
    }
    if model.host_factor is not None:
        body["host_factor"] = asdict(model.host_factor)
    if model.platform is not None:
        body["platform"] = model.platform.as_json()
    return json.dumps(body, indent=2) + "\n"


_NUMBERS = ("idle_w", "w_per_busy_cpu", "r2", "busy_cpus_min", "busy_cpus_max")


def _decode(text: str, host: str) -> HostPowerModel:
    """Parse a model file; ``ValueError`` says what is wrong with it."""
    import json

    try:
        body: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(body, dict) or body.get("format") != FILE_FORMAT:
        raise ValueError(f'no "format": "{FILE_FORMAT}"')
    if body.get("version") != FILE_VERSION:
        raise ValueError(f"version {body.get('version')!r}, this impactlib reads {FILE_VERSION}")
    entries = body.get("domains")
    if not isinstance(entries, list):
        raise ValueError('"domains" is not a list')
    domains = {m.domain: m for m in (_decode_domain(e) for e in entries)}
    factor = body.get("host_factor")
    platform = body.get("platform")
    return HostPowerModel(
        str(body.get("host") or host),
        domains,
        None if factor is None else _decode_host_factor(factor),
        None if platform is None else decode_platform(platform),
    )


def _decode_host_factor(entry: Any) -> HostFactor:
    if not isinstance(entry, dict):
        raise ValueError('"host_factor" is not an object')
    for key in ("factor", "reference_kwh", "measured_kwh"):
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"host_factor: {key} is not a number")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"host_factor: {key} = {value} (must be finite and > 0)")
    texts = {key: entry.get(key) for key in ("reference", "run_id", "validated_at")}
    if not all(isinstance(v, str) and v for v in texts.values()):
        raise ValueError("host_factor: reference, run_id and validated_at must be texts")
    if not math.isfinite(age_days(str(texts["validated_at"]))):
        raise ValueError("host_factor: validated_at is not an ISO 8601 time")
    return HostFactor(
        factor=float(entry["factor"]),
        reference_kwh=float(entry["reference_kwh"]),
        measured_kwh=float(entry["measured_kwh"]),
        reference=str(texts["reference"]),
        run_id=str(texts["run_id"]),
        validated_at=str(texts["validated_at"]),
    )


def _decode_domain(entry: Any) -> DomainPowerModel:
    if not isinstance(entry, dict):
        raise ValueError("a domain entry is not an object")
    domain = entry.get("domain")
    if not isinstance(domain, str) or not domain:
        raise ValueError('a domain entry has no "domain" name')
    for key in _NUMBERS:
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{domain}: {key} is not a number")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{domain}: {key} = {value} (must be finite and >= 0)")
    method = entry.get("method")
    if method not in ("calibrated", "learned"):
        raise ValueError(f"{domain}: method {method!r} (calibrated or learned)")
    points = entry.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or points < 0:
        raise ValueError(f"{domain}: points is not a count")
    fitted_at = entry.get("fitted_at")
    if not isinstance(fitted_at, str) or not math.isfinite(age_days(fitted_at)):
        raise ValueError(f"{domain}: fitted_at is not an ISO 8601 time")
    return DomainPowerModel(
        domain=domain,
        idle_w=float(entry["idle_w"]),
        w_per_busy_cpu=float(entry["w_per_busy_cpu"]),
        method=method,
        fitted_at=fitted_at,
        r2=float(entry["r2"]),
        points=points,
        busy_cpus_min=float(entry["busy_cpus_min"]),
        busy_cpus_max=float(entry["busy_cpus_max"]),
        residual_w=_residual(domain, entry.get("residual_w")),
    )


def _residual(domain: str, value: Any) -> float | None:
    """A stored fit residual (W); None where the file predates it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{domain}: residual_w is not a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{domain}: residual_w = {value} (must be finite and >= 0)")
    return float(value)


# --- text ------------------------------------------------------------------------------------

_DOMAIN_WIDTH = 19  # cpu:package-0-die-1; longer ids (a GPU's UUID) get a line of their own
TEXT_WIDTH = 78  # 80 columns with the two-space indent ``impactlib hardware`` adds


def table_lines(model: HostPowerModel, now: datetime | None = None) -> list[str]:
    """The model as a plain-text table within ``TEXT_WIDTH`` columns; no id is ever cut."""
    lines = [
        f"{'domain':<{_DOMAIN_WIDTH}} {'idle W':>6} {'W/CPU':>6} {'r2':>4} {'pts':>4}"
        f"  {'busy CPUs':<11} method, age"
    ]
    for domain in sorted(model.domains):
        m = model.domains[domain]
        name = domain
        if len(domain) > _DOMAIN_WIDTH:
            lines.append(domain)
            name = ""
        load = f"{m.busy_cpus_min:.1f}-{m.busy_cpus_max:.1f}"
        lines.append(
            f"{name:<{_DOMAIN_WIDTH}} {m.idle_w:6.2f} {m.w_per_busy_cpu:6.2f} {m.r2:4.2f}"
            f" {m.points:4d}  {load:<11} {m.method}, {age_text(m.fitted_at, now)}"
        )
    return lines


def hardware_lines(config: Config, host: str) -> list[str]:
    """The body of the "Host power model" section of ``impactlib hardware`` (indented,
    within 80 columns): the table with each domain's age, or why there is none and what
    that costs, and any file that could not be used."""
    model, problem = load_power_model(config, host)
    where = " or ".join(str(p) for p in model_locations(config, host))
    if model is None or not model.domains:
        lines = _wrap(
            f"None for {host} (looked for {where}). Idle floors are then the lowest power "
            "seen during each run, which on a busy machine holds the run's own load; "
            "`impactlib calibrate` measures them."
        )
    else:
        lines = _wrap(f"Idle floors of {host}: power = idle + W/CPU x busy CPUs (from {where}).")
        lines += table_lines(model)
    factor = None if model is None else model.host_factor
    if factor is not None:
        lines += _wrap(
            f"Host factor {factor.factor:.3f} (reference {factor.reference_kwh:.4g} kWh / "
            f"measured {factor.measured_kwh:.4g} kWh; {factor.reference}, run {factor.run_id}, "
            f"{factor.validated_at[:10]}; `impactlib validate`)."
        )
    platform = None if model is None else model.platform
    if platform is not None:
        lines += _wrap(
            f"Platform {platform.watts:.1f} W beyond the meters: {platform.describe()} "
            "(`impactlib calibrate --wall-watts`)."
        )
    if problem:
        lines += _wrap(f"Problem: {problem}")
    return ["  " + line for line in lines]


def _wrap(text: str) -> list[str]:
    """Wrapped at spaces only: a path longer than a line stays whole."""
    import textwrap

    return textwrap.wrap(text, TEXT_WIDTH, break_long_words=False, break_on_hyphens=False)
