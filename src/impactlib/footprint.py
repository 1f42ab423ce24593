"""Footprint records: plain immutable dataclasses with units in their field names.

These are the only shapes that cross from measuring to pricing, storing and reporting, so
every number carries its provenance: which domain and method produced it, what the run was
charged for and what extent the meter saw, with which quality, and (for carbon) which
intensity source, zone and year and how the zone was found.

The words of that provenance are enumerations, not free text, so that an output derives its
labels from them (:attr:`Word.label`) instead of matching strings, and mypy catches a
producer that invents a word. Their values are the strings records have always stored: a
record written by an earlier version loads (:meth:`Footprint.from_dict` maps the old free-text
fields), and the JSON of a record is the same text as before.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .units import j_to_kwh


class Word(str, enum.Enum):
    """A word of the record vocabulary: a ``str`` equal to its stored value (JSON, SQL and
    ``f"{word}"`` give the value, as :class:`enum.StrEnum` does from Python 3.11 on; ``repr``
    too, so a printed footprint reads as it always has)."""

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return repr(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def label(self) -> str:
        """The short phrase a person reads for this word."""
        return _LABELS.get(type(self), {}).get(self, str(self.value))


class Component(Word):
    """The kind of hardware a domain's energy is drawn by."""

    CPU = "cpu"
    DRAM = "dram"
    GPU = "gpu"
    MEMORY = "memory"  # modelled from the memory installed (DRAM where RAPL has no domain)
    NODE = "node"  # a whole node, as SLURM's energy accounting counts it
    PLATFORM = "platform"  # wall power minus the metered parts (fans, disks, board, PSU losses)
    OTHER = "other"  # energy an imported record counted without saying what drew it


class Method(Word):
    """How a domain's energy was obtained."""

    RAPL = "rapl"
    NVML_ENERGY = "nvml-energy"
    NVML_POWER = "nvml-power"
    AMDSMI_ENERGY = "amdsmi-energy"
    MODEL_TDP = "model-tdp"
    MODEL_MEMORY = "model-memory"
    DAEMON = "daemon"
    GREEN_ALGORITHMS = "green-algorithms"
    SLURM_EXCLUSIVE = "slurm-exclusive"
    CODECARBON = "codecarbon"
    HWMON = "hwmon"  # a wall power sensor of the hwmon class (ACPI power_meter...)
    IPMI_DCMI = "ipmi-dcmi"  # the BMC's power reading through IPMI DCMI
    REDFISH = "redfish"  # the BMC's power reading through Redfish
    MODEL_PLATFORM = "model-platform"  # a calibrated constant for what RAPL and GPUs miss
    UNKNOWN = "unknown"  # a method this version does not know, read from a newer record


class Quality(Word):
    """How much a figure is worth. ``measured`` and ``attributed`` come from a meter (all of
    a domain, or a share of one): only those are called measured (:attr:`metered`)."""

    MEASURED = "measured"
    ATTRIBUTED = "attributed"
    ESTIMATED = "estimated"
    IMPORTED = "imported"  # another tool's figure, which does not say how it was obtained

    @property
    def metered(self) -> bool:
        """Whether a meter read this energy (the whole domain, or a share of it)."""
        return self in (Quality.MEASURED, Quality.ATTRIBUTED)


class FloorSource(Word):
    """Where a domain's idle power came from, in order of trust."""

    CALIBRATED = "calibrated"  # `impactlib calibrate` (the host power model)
    LEARNED = "learned"  # fitted from runs' own samples (the host power model)
    MODEL = "model"  # an estimation model's own idle power
    OBSERVED = "observed"  # the lowest power seen: may hold the run's own load


class Status(Word):
    """How a run ended (or that it has not yet)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"  # ended by the scheduler: scancel, time limit, preemption
    KILLED = "killed"  # left running by a process that no longer exists


class ChargedTo(Word):
    """What a run was charged for: the processes or machine whose energy it holds."""

    MACHINE = "machine"
    TREE = "tree"  # a process and its descendants
    CGROUP = "cgroup"  # every process of a cgroup (a SLURM job on one node)
    FOLLOWER = "follower"  # another rank of the job measured this node
    SLURM_JOB = "slurm-job"  # a job from SLURM's accounting
    PROCESS = "process"  # one process, as CodeCarbon's process mode counted it


class Extent(Word):
    """What a component's meter (or model) saw: the whole machine (a socket, a board) or
    one device; or, for an estimate from a scheduler's accounting, the allocation itself."""

    MACHINE = "machine"
    DEVICE = "device"
    ALLOCATION = "allocation"


class ContainerRuntime(Word):
    """What made the container a run ran in, as its cgroup's name says."""

    DOCKER = "docker"
    PODMAN = "podman"
    CONTAINERD = "containerd"  # containerd's CRI plugin (Kubernetes, nerdctl)
    CRIO = "cri-o"
    CRI = "cri"  # a Kubernetes pod's container whose cgroup does not name its runtime


class QualityClass(Word):
    """How far a record's energy may be off, in BoAmps' classes (the relative half-width of
    its range, :mod:`impactlib.uncertainty`): high within +-10 %, medium +-25 %, low wider."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class LocatedBy(Word):
    """How the carbon-intensity zone was chosen."""

    CONFIGURATION = "configuration"  # zone, region or country set in any configuration layer
    TIMEZONE = "timezone"  # guessed from the system timezone
    WORLD_AVERAGE = "world-average"  # nothing known: the world average, always said so
    IMPORTED = "imported"  # as the tool that made an imported record chose it


# Each word's label, per vocabulary (words of two vocabularies may be equal strings).
_LABELS: dict[type[Word], dict[Word, str]] = {
    Component: {
        Component.CPU: "CPU",
        Component.DRAM: "DRAM",
        Component.GPU: "GPU",
        Component.MEMORY: "memory",
        Component.NODE: "whole node",
        Component.PLATFORM: "platform",
        Component.OTHER: "other",
    },
    Method: {
        Method.RAPL: "RAPL",
        Method.NVML_ENERGY: "NVML energy counter",
        Method.NVML_POWER: "NVML power readings",
        Method.AMDSMI_ENERGY: "AMD SMI energy counter",
        Method.MODEL_TDP: "TDP model",
        Method.MODEL_MEMORY: "memory model",
        Method.DAEMON: "impactlib daemon",
        Method.GREEN_ALGORITHMS: "Green Algorithms estimate",
        Method.SLURM_EXCLUSIVE: "SLURM energy accounting",
        Method.CODECARBON: "CodeCarbon",
        Method.HWMON: "hwmon wall power sensor",
        Method.IPMI_DCMI: "BMC power reading (IPMI DCMI)",
        Method.REDFISH: "BMC power reading (Redfish)",
        Method.MODEL_PLATFORM: "calibrated platform power",
        Method.UNKNOWN: "unknown method",
    },
    Quality: {
        Quality.MEASURED: "measured",
        Quality.ATTRIBUTED: "measured, attributed",
        Quality.ESTIMATED: "estimated",
        Quality.IMPORTED: "imported",
    },
    FloorSource: {
        FloorSource.CALIBRATED: "calibrated",
        FloorSource.LEARNED: "learned from runs",
        FloorSource.MODEL: "the model's",
        FloorSource.OBSERVED: "lowest power seen",
    },
    Status: {
        Status.RUNNING: "running",
        Status.COMPLETED: "completed",
        Status.FAILED: "failed",
        Status.INTERRUPTED: "interrupted",
        Status.CANCELLED: "cancelled",
        Status.KILLED: "killed",
    },
    ChargedTo: {
        ChargedTo.MACHINE: "machine",
        ChargedTo.TREE: "process tree",
        ChargedTo.CGROUP: "cgroup",
        ChargedTo.FOLLOWER: "follower rank",
        ChargedTo.SLURM_JOB: "SLURM job",
        ChargedTo.PROCESS: "process",
    },
    Extent: {
        Extent.MACHINE: "machine",
        Extent.DEVICE: "device",
        Extent.ALLOCATION: "allocation",
    },
    ContainerRuntime: {
        ContainerRuntime.DOCKER: "Docker",
        ContainerRuntime.PODMAN: "Podman",
        ContainerRuntime.CONTAINERD: "containerd",
        ContainerRuntime.CRIO: "CRI-O",
        ContainerRuntime.CRI: "Kubernetes container",
    },
    QualityClass: {
        QualityClass.HIGH: "high (within 10 %)",
        QualityClass.MEDIUM: "medium (within 25 %)",
        QualityClass.LOW: "low (within 50 % or wider)",
    },
    LocatedBy: {
        LocatedBy.CONFIGURATION: "configured",
        LocatedBy.TIMEZONE: "guessed from the system timezone",
        LocatedBy.WORLD_AVERAGE: "unknown: world average",
        LocatedBy.IMPORTED: "as the imported record says",
    },
}


def words(record: object, **kinds: type[Word]) -> None:
    """Make the named fields of a frozen ``record`` words of their vocabulary: a plain
    string equal to a word becomes that word, anything else raises ``ValueError`` at once
    (where it was made, not in a report months later)."""
    for name, kind in kinds.items():
        value = getattr(record, name)
        if type(value) is not kind:
            object.__setattr__(record, name, kind(value))


def charged_label(charged_to: ChargedTo, extent: Extent) -> str:
    """What a component's energy is a share of, in words: ``machine`` when the whole
    machine was charged, else ``process tree (of machine)``, ``cgroup (of device)``..."""
    if charged_to is ChargedTo.MACHINE:
        return charged_to.label
    return f"{charged_to.label} (of {extent.label})"


@dataclass(frozen=True)
class ComponentEnergy:
    """Energy of one domain over a run, split the way attribution split it.

    ``domain_j`` is the energy of the whole domain over the run (socket, board, device: its
    ``extent``), read by a meter or given by a model: ``quality`` says which, so the name
    claims no meter. ``dynamic_j + idle_j`` is what was charged to the run;
    ``unattributed_j`` is the rest (other users, the system, idle not held by the run).
    Conservation: ``dynamic_j + idle_j + unattributed_j == domain_j``.
    """

    domain: str
    component: Component
    method: Method
    extent: Extent
    quality: Quality
    domain_j: float
    dynamic_j: float
    idle_j: float
    unattributed_j: float
    note: str = ""
    # The idle power split by the idle policy, and where it came from.
    idle_floor_w: float = 0.0
    idle_floor_source: FloorSource = FloorSource.OBSERVED
    # The range of the charged energy (``energy_j``), from the method's error and the idle
    # floor's spread (:mod:`impactlib.uncertainty`); None in a record written before ranges
    # existed: readers derive it from the method then, and say so.
    low_j: float | None = None
    high_j: float | None = None

    def __post_init__(self) -> None:
        words(
            self,
            component=Component,
            method=Method,
            extent=Extent,
            quality=Quality,
            idle_floor_source=FloorSource,
        )

    @property
    def energy_j(self) -> float:
        """Energy charged to the run (before PUE)."""
        return self.dynamic_j + self.idle_j


@dataclass(frozen=True)
class CarbonInfo:
    """How operational emissions were priced."""

    source: str  # static table name, "rte", "gb", "electricitymaps"
    zone: str
    mean_g_per_kwh: float
    detail: str = ""  # table + year, or resolution and actual/forecast mix
    fallback: str | None = None  # set when a live source failed: what failed and what was used
    located_by: LocatedBy = LocatedBy.CONFIGURATION  # how the zone was chosen
    located_detail: str = ""  # the same in a sentence: which setting, which timezone...

    def __post_init__(self) -> None:
        words(self, located_by=LocatedBy)


@dataclass(frozen=True)
class Container:
    """The container a run's processes ran in: its runtime and id (and the Kubernetes pod's
    uid where it belongs to one), read from the cgroup the kernel placed it in."""

    runtime: ContainerRuntime
    id: str
    pod: str = ""

    def __post_init__(self) -> None:
        words(self, runtime=ContainerRuntime)

    @property
    def name(self) -> str:
        """``runtime:id``: unique on a host, the name of its per-minute rows and series."""
        return f"{self.runtime}:{self.id}"


@dataclass(frozen=True)
class Footprint:
    """The full result of one tracked run."""

    run_id: str
    charged_to: ChargedTo
    idle_policy: str
    started_at: str  # ISO 8601 UTC
    ended_at: str | None
    duration_s: float
    components: tuple[ComponentEnergy, ...]
    pue: float
    emissions_kg: float
    carbon: CarbonInfo | None
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0
    peak_memory_bytes: int = 0
    embodied_kg: float | None = None
    embodied_note: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    container: Container | None = None  # where its processes ran in one
    # The emissions' range and BoAmps' quality class of the energy (:mod:`impactlib.
    # uncertainty`); None in a record written before ranges existed.
    emissions_low_kg: float | None = None
    emissions_high_kg: float | None = None
    quality_class: QualityClass | None = None

    def __post_init__(self) -> None:
        words(self, charged_to=ChargedTo)
        if self.quality_class is not None:
            words(self, quality_class=QualityClass)

    @property
    def energy_j(self) -> float:
        """Energy charged to the run, without PUE."""
        return sum(c.energy_j for c in self.components)

    @property
    def energy_kwh(self) -> float:
        """Energy charged to the run, PUE included (the promised ``energy_consumption``)."""
        return j_to_kwh(self.energy_j) * self.pue

    @property
    def metered_j(self) -> float:
        """The part of :attr:`energy_j` a meter read (quality measured or attributed)."""
        return sum(c.energy_j for c in self.components if c.quality.metered)

    def component_kwh(self, component: Component) -> float:
        """Energy of one component kind (cpu, dram, gpu, memory), PUE included."""
        joules = sum(c.energy_j for c in self.components if c.component == component)
        return j_to_kwh(joules) * self.pue

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the store and the JSON export use this shape).

        Copied from the instances' ``__dict__`` rather than with ``dataclasses.asdict``,
        whose recursive deep copies made this the most expensive step of a checkpoint. The
        enumerations are ``str``: ``json`` writes their values.
        """
        out = dict(vars(self))
        out["components"] = [
            {**vars(c), "energy_j": c.energy_j, "energy_kwh": j_to_kwh(c.energy_j) * self.pue}
            for c in self.components
        ]
        out["carbon"] = dict(vars(self.carbon)) if self.carbon else None
        out["container"] = dict(vars(self.container)) if self.container else None
        out["warnings"] = list(self.warnings)
        out["energy_j"] = self.energy_j
        out["energy_kwh"] = self.energy_kwh
        return out

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Footprint:
        """Inverse of :meth:`to_dict` (derived keys are ignored); also reads the records of
        earlier versions, whose ``scope`` fields and ``located_by`` were free text and whose
        components named ``domain_j`` ``measured_j``."""
        fields = {k: v for k, v in data.items() if k not in _DERIVED}
        charged_to = fields.pop("scope", None)  # its name before the vocabulary was typed
        fields["charged_to"] = _word(ChargedTo, data.get("charged_to", charged_to), ChargedTo.TREE)
        fields["components"] = tuple(_component(c) for c in data.get("components", ()))
        carbon = data.get("carbon")
        fields["carbon"] = _carbon(carbon) if carbon else None
        fields["warnings"] = tuple(data.get("warnings", ()))
        fields["container"] = _container(data.get("container"))
        fields["quality_class"] = _word_or_none(QualityClass, data.get("quality_class"))
        return Footprint(**fields)


_DERIVED = ("energy_j", "energy_kwh")
W = TypeVar("W", bound=Word)


def _word(kind: type[W], value: object, default: W) -> W:
    """``value`` as a word of ``kind``; ``default`` for a word this version does not know."""
    try:
        return kind(value)
    except ValueError:
        return default


def _component(data: Mapping[str, Any]) -> ComponentEnergy:
    fields = {k: v for k, v in data.items() if k not in _DERIVED}
    old_scope = fields.pop("scope", None)  # before 0.x: "machine", "tree (of device)"...
    if "measured_j" in fields:  # its name before it was seen to hold modelled energy too
        fields.setdefault("domain_j", fields.pop("measured_j"))
    if "extent" not in fields:
        fields["extent"] = _old_extent(str(old_scope or ""))
    fields["component"] = _word(Component, fields.get("component"), Component.OTHER)
    fields["method"] = _word(Method, fields.get("method"), Method.UNKNOWN)
    fields["extent"] = _word(Extent, fields["extent"], Extent.MACHINE)
    # An unknown quality is never promoted to measured; CodeCarbon's figures, stored as
    # estimated by earlier versions, are imported.
    quality = _word(Quality, fields.get("quality"), Quality.ESTIMATED)
    if fields["method"] is Method.CODECARBON:
        quality = Quality.IMPORTED
    fields["quality"] = quality
    fields["idle_floor_source"] = _word(
        FloorSource, fields.get("idle_floor_source", "observed"), FloorSource.OBSERVED
    )
    return ComponentEnergy(**fields)


def _word_or_none(kind: type[W], value: object) -> W | None:
    """``value`` as a word of ``kind``; None for none, or for a word this version does not
    know (a reader derives it again rather than trust a guess)."""
    try:
        return None if value is None else kind(value)
    except ValueError:
        return None


def _old_extent(scope: str) -> Extent:
    """The extent in an earlier version's free-text component scope."""
    if scope.endswith("(of device)"):
        return Extent.DEVICE
    if scope == "slurm job (allocation)":
        return Extent.ALLOCATION
    return Extent.MACHINE  # "machine", "tree (of machine)", "slurm job (whole nodes)"...


def _container(data: Mapping[str, Any] | None) -> Container | None:
    """A stored container; None for none, or for a runtime this version does not know
    (never a wrong runtime)."""
    if not data:
        return None
    try:
        return Container(**data)
    except (TypeError, ValueError):
        return None


def _carbon(data: Mapping[str, Any]) -> CarbonInfo:
    fields = dict(data)
    located = str(fields.get("located_by", LocatedBy.CONFIGURATION.value))
    try:
        fields["located_by"] = LocatedBy(located)
    except ValueError:  # an earlier version's sentence: keep it, and read its kind from it
        fields["located_by"] = _old_located_by(located)
        fields.setdefault("located_detail", located)
    return CarbonInfo(**fields)


def _old_located_by(sentence: str) -> LocatedBy:
    """How the zone was found, from the sentence earlier versions stored."""
    if sentence.startswith("guessed from the system timezone"):
        return LocatedBy.TIMEZONE
    if sentence.startswith("no location configured"):
        return LocatedBy.WORLD_AVERAGE
    if sentence == "CodeCarbon":
        return LocatedBy.IMPORTED
    return LocatedBy.CONFIGURATION  # "configured zone (argument)", "configured country (...)"
