"""Ranges: every component's low <= value <= high, totals follow the documented rule (bounds
add linearly; emissions priced at the intensity's bounds), a counter's range is narrower
than a model's, and BoAmps' classes follow the relative half-width."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from impactlib.footprint import (
    CarbonInfo,
    ChargedTo,
    Component,
    ComponentEnergy,
    Extent,
    FloorSource,
    Footprint,
    Method,
    Quality,
    QualityClass,
)
from impactlib.report.figures import add_up, footprint_amounts
from impactlib.uncertainty import (
    FLOOR_SPREADS,
    METHOD_ERRORS,
    component_range,
    footprint_range,
    intensity_error,
    is_wall_remainder,
    method_error,
    platform_domain_bounds,
    quality_class,
    sensor_error,
    with_range,
    with_ranges,
)

REL = 1e-9

energies = st.floats(min_value=0.0, max_value=1e9, allow_nan=False)
fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def components(draw: st.DrawFn) -> ComponentEnergy:
    domain_j = draw(energies)
    dynamic = domain_j * draw(fractions)
    idle = (domain_j - dynamic) * draw(fractions)
    return ComponentEnergy(
        domain=f"d{draw(st.integers(0, 10**6))}",
        component=draw(st.sampled_from(list(Component))),
        method=draw(st.sampled_from(list(Method))),
        extent=draw(st.sampled_from(list(Extent))),
        quality=draw(st.sampled_from(list(Quality))),
        domain_j=domain_j,
        dynamic_j=dynamic,
        idle_j=idle,
        unattributed_j=domain_j - dynamic - idle,
        idle_floor_w=draw(st.floats(0, 500)),
        idle_floor_source=draw(st.sampled_from(list(FloorSource))),
    )


def _carbon(source: str, detail: str = "OWID, year 2023") -> CarbonInfo:
    return CarbonInfo(source, "FR", 56.0, detail, None, "configuration")


@st.composite
def footprints(draw: st.DrawFn) -> Footprint:
    parts = tuple(
        with_range(
            c,
            draw(st.sampled_from(list(ChargedTo))),
            fit_residual=draw(st.none() | fractions),
            coverage=draw(st.none() | fractions),
            accuracy_percent=draw(st.none() | st.floats(50.0, 100.0)),
        )
        for c in draw(st.lists(components(), max_size=6))
    )
    pue = draw(st.floats(1.0, 2.5))
    g = draw(st.floats(0.0, 900.0))
    source = draw(st.sampled_from(["static", "rte", "rte+static", "gb", "codecarbon"]))
    detail = draw(st.sampled_from(["x; points: 3 actual", "x; points: 2 forecast", "table"]))
    energy = sum(c.energy_j for c in parts)
    fp = Footprint(
        run_id="r",
        charged_to=draw(st.sampled_from(list(ChargedTo))),
        idle_policy="usage",
        started_at="2026-01-01T00:00:00+00:00",
        ended_at=None,
        duration_s=60.0,
        components=parts,
        pue=pue,
        emissions_kg=energy / 3.6e6 * pue * g / 1000,
        carbon=_carbon(source, detail),
    )
    return with_ranges(fp)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


@settings(max_examples=300, deadline=None)
@given(components(), st.sampled_from(list(ChargedTo)), st.none() | fractions)
def test_every_component_range_holds_its_value(
    c: ComponentEnergy, charged_to: ChargedTo, residual: float | None
) -> None:
    ranged = with_range(c, charged_to, fit_residual=residual)
    assert ranged.low_j is not None and ranged.high_j is not None
    assert ranged.low_j <= ranged.energy_j <= ranged.high_j
    assert ranged.low_j >= 0
    derived = component_range(c, charged_to)  # a record from before ranges
    assert derived.derived and derived.low_j <= c.energy_j <= derived.high_j


@settings(max_examples=200, deadline=None)
@given(footprints())
def test_totals_follow_the_linear_rule(fp: Footprint) -> None:
    ranges = footprint_range(fp)
    lows = sum(c.low_j or 0.0 for c in fp.components) * fp.pue
    highs = sum(c.high_j or 0.0 for c in fp.components) * fp.pue
    assert _close(ranges.energy_low_j, lows) and _close(ranges.energy_high_j, highs)
    assert ranges.energy_low_j <= ranges.energy_j * (1 + REL) + 1e-12
    assert ranges.energy_j <= ranges.energy_high_j * (1 + REL) + 1e-12
    assert ranges.emissions_low_kg <= fp.emissions_kg <= ranges.emissions_high_kg
    assert not ranges.derived
    if fp.emissions_kg > 0 and fp.energy_j > 0 and fp.carbon is not None:
        spread = intensity_error(fp.carbon.source, fp.carbon.detail)
        energy_share_low = lows / fp.pue / fp.energy_j
        energy_share_high = highs / fp.pue / fp.energy_j
        low = fp.emissions_kg * energy_share_low * (1 - spread.below)
        high = fp.emissions_kg * energy_share_high * (1 + spread.above)
        assert _close(ranges.emissions_low_kg, min(low, fp.emissions_kg))
        assert _close(ranges.emissions_high_kg, max(high, fp.emissions_kg))


@settings(max_examples=100, deadline=None)
@given(st.lists(footprints(), min_size=1, max_size=5))
def test_a_sum_of_runs_adds_their_bounds(fps: list[Footprint]) -> None:
    total = add_up(footprint_amounts(fp) for fp in fps)
    assert total.energy_bounds_j is not None and total.emissions_bounds_kg is not None
    low = sum(footprint_range(fp).energy_low_j for fp in fps)
    high = sum(footprint_range(fp).energy_high_j for fp in fps)
    assert _close(total.energy_bounds_j.low, low) and _close(total.energy_bounds_j.high, high)
    assert total.energy_bounds_j.low <= total.energy_j * (1 + REL) + 1e-9
    assert total.energy_j <= total.energy_bounds_j.high * (1 + REL) + 1e-9


@settings(max_examples=200, deadline=None)
@given(
    components(), st.sampled_from(list(ChargedTo)), st.sampled_from([Component.CPU, Component.GPU])
)
def test_a_rapl_reading_is_narrower_than_a_tdp_model(
    c: ComponentEnergy, charged_to: ChargedTo, kind: Component
) -> None:
    assume(c.energy_j >= 1e-6)  # below a microjoule, widths vanish in float rounding
    rapl = dataclasses.replace(c, method=Method.RAPL, component=Component.CPU)
    nvml = dataclasses.replace(c, method=Method.NVML_ENERGY, component=Component.GPU)
    measured = rapl if kind is Component.CPU else nvml
    model = dataclasses.replace(measured, method=Method.MODEL_TDP)
    a, b = component_range(measured, charged_to), component_range(model, charged_to)
    assert a.high_j - a.low_j < b.high_j - b.low_j


def test_every_method_has_a_sourced_error() -> None:
    for method in Method:
        for kind in Component:
            error = method_error(method, kind)
            assert 0 <= error.below <= 1 and error.above >= 0, (method, kind)
            assert error.source.strip(), (method, kind)
    assert set(METHOD_ERRORS) >= set(Method) - {Method.NVML_POWER, Method.DAEMON}
    assert set(FLOOR_SPREADS) == set(FloorSource)


def test_floor_spreads_follow_trust() -> None:
    order = [FloorSource.CALIBRATED, FloorSource.LEARNED, FloorSource.MODEL, FloorSource.OBSERVED]
    widths = [FLOOR_SPREADS[s].half_width for s in order]
    assert widths == sorted(widths) and len(set(widths)) == 4


def test_power_integration_widens_with_its_sampling_gaps() -> None:
    widths = [method_error(Method.NVML_POWER, Component.GPU, coverage=c).half_width
              for c in (1.0, 0.75, 0.25, 0.0)]  # fmt: skip
    assert (
        widths == sorted(widths)
        and widths[0] == method_error(Method.NVML_ENERGY, Component.GPU).half_width
    )


def test_a_sensor_that_states_its_accuracy_is_taken_at_its_word() -> None:
    assert sensor_error(95.0).half_width == pytest.approx(0.05)
    stated = method_error(Method.HWMON, Component.PLATFORM, accuracy_percent=98.0)
    assert stated.half_width == pytest.approx(0.02)
    assert method_error(Method.HWMON, Component.PLATFORM).half_width == 0.10


def test_rapl_dram_is_wider_than_the_package() -> None:
    dram = method_error(Method.RAPL, Component.DRAM)
    package = method_error(Method.RAPL, Component.CPU)
    assert dram.half_width > package.half_width


def test_intensity_errors() -> None:
    static = intensity_error("static", "OWID; annual")
    assert intensity_error("rte+static", "x").half_width == static.half_width
    actual = intensity_error("gb", "NESO; points: 4 actual")
    forecast = intensity_error("gb", "NESO; points: 3 actual, 1 forecast")
    assert actual.half_width < forecast.half_width < static.half_width


@pytest.mark.parametrize(
    ("low", "value", "high", "expected"),
    [
        (90.0, 100.0, 110.0, QualityClass.HIGH),
        (89.0, 100.0, 111.0, QualityClass.MEDIUM),
        (75.0, 100.0, 125.0, QualityClass.MEDIUM),
        (74.0, 100.0, 126.0, QualityClass.LOW),
        (0.0, 0.0, 0.0, QualityClass.HIGH),
    ],
)
def test_boamps_classes(low: float, value: float, high: float, expected: QualityClass) -> None:
    assert quality_class(low, value, high) is expected


def test_ranges_survive_the_record_and_old_records_load() -> None:
    c = ComponentEnergy("cpu:package-0", "cpu", "rapl", "machine", "attributed",
                        100.0, 40.0, 20.0, 40.0, idle_floor_source="learned")  # fmt: skip
    fp = with_ranges(
        Footprint(
            "r",
            "tree",
            "usage",
            "2026-01-01T00:00:00+00:00",
            None,
            60.0,
            (c,),
            1.0,
            0.001,
            _carbon("static"),
        )  # fmt: skip
    )
    again = Footprint.from_dict(json.loads(json.dumps(fp.to_dict())))
    assert again == fp and again.quality_class is QualityClass.HIGH
    assert again.components[0].low_j is not None
    old = fp.to_dict()
    for key in ("emissions_low_kg", "emissions_high_kg", "quality_class"):
        del old[key]
    for part in old["components"]:
        del part["low_j"], part["high_j"]
    loaded = Footprint.from_dict(old)
    assert loaded.components[0].low_j is None and loaded.quality_class is None
    derived = footprint_range(loaded)
    stored = footprint_range(fp)
    assert derived.derived and not stored.derived
    assert _close(derived.energy_low_j, stored.energy_low_j)  # the same rule, re-derived
    unknown = {**fp.to_dict(), "quality_class": "excellent"}  # a newer version's word
    assert Footprint.from_dict(unknown).quality_class is None


def test_the_platform_carries_the_walls_error_on_the_whole_wall() -> None:
    """100 W at the wall (BMC, +-5 %) with 40 W of RAPL (+-5 %): the 60 W platform may be
    95 - 42 = 53 W to 105 - 38 = 67 W, not 60 W +-5 %; the machine's parts added hold the
    wall's own range."""
    rapl = ComponentEnergy("cpu:package-0", "cpu", "rapl", "machine", "measured",
                           40.0, 40.0, 0.0, 0.0)  # fmt: skip
    platform = ComponentEnergy("platform:wall", "platform", "ipmi-dcmi", "machine", "measured",
                               60.0, 60.0, 0.0, 0.0)  # fmt: skip
    assert is_wall_remainder(platform) and not is_wall_remainder(rapl)
    low, high = platform_domain_bounds(platform, (rapl, platform))
    assert (low, high) == pytest.approx((53.0, 67.0))
    ranged = with_range(platform, ChargedTo.MACHINE, domain_bounds=(low, high))
    assert (ranged.low_j, ranged.high_j) == pytest.approx((53.0, 67.0))
    parts = [ranged, with_range(rapl, ChargedTo.MACHINE)]
    wall_low, wall_high = method_error(Method.IPMI_DCMI, Component.PLATFORM).bounds(100.0)
    assert sum(p.low_j or 0.0 for p in parts) <= wall_low
    assert sum(p.high_j or 0.0 for p in parts) >= wall_high
    # a run charged half of it gets half of that range (then the attribution's on top)
    half = dataclasses.replace(platform, dynamic_j=30.0, unattributed_j=30.0)
    shared = with_range(half, ChargedTo.TREE, domain_bounds=(low, high))
    assert (shared.low_j, shared.high_j) == pytest.approx((26.5, 33.5))


@settings(max_examples=200, deadline=None)
@given(components(), st.lists(components(), max_size=4), st.none() | st.floats(80.0, 100.0))
def test_a_platform_range_always_holds_its_value(
    platform: ComponentEnergy, parts: list[ComponentEnergy], accuracy: float | None
) -> None:
    platform = dataclasses.replace(platform, component=Component.PLATFORM, method=Method.HWMON)
    bounds = platform_domain_bounds(platform, [platform, *parts], accuracy_percent=accuracy)
    assert bounds[0] <= platform.domain_j <= bounds[1]
    ranged = with_range(platform, ChargedTo.TREE, domain_bounds=bounds)
    assert ranged.low_j is not None and ranged.high_j is not None
    assert ranged.low_j <= ranged.energy_j * (1 + REL) + 1e-12
    assert ranged.energy_j <= ranged.high_j * (1 + REL) + 1e-12
