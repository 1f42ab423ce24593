"""The cleanest start within a shift equals a minute-by-minute brute force, holes in the
intensity series included (an offset that meets a hole is no candidate; a run whose own
minutes meet one cannot be priced)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from sample_runs import make_record

from impactlib.config import load_config
from impactlib.footprint import Status
from impactlib.planning.whatif import cleanest_offset, parse_what_if, what_if

ENERGY = st.lists(st.floats(0, 1e5), min_size=1, max_size=40)
VALUE = st.one_of(st.none(), st.sampled_from([20.0, 55.5, 120.0, 300.0]))


def _brute(energy: list[float], intensity: list[float | None], k: int) -> float | None:
    window = [v for v in intensity[k : k + len(energy)] if v is not None]
    if len(window) < len(energy):
        return None
    return sum(e * v for e, v in zip(energy, window, strict=True))


@settings(max_examples=300, deadline=None)
@given(energy=ENERGY, offsets=st.integers(0, 60), data=st.data())
def test_cleanest_offset_is_the_brute_force_minimum(
    energy: list[float], offsets: int, data: st.DataObject
) -> None:
    # Steps of a few minutes, as a provider's 15- or 30-minute values make them.
    steps = data.draw(st.lists(st.tuples(VALUE, st.integers(1, 15)), min_size=1))
    intensity: list[float | None] = [v for v, length in steps for _ in range(length)]
    needed = len(energy) + offsets
    intensity = (intensity * (needed // len(intensity) + 1))[:needed]
    found = cleanest_offset(energy, intensity, offsets)
    base = _brute(energy, intensity, 0)
    if base is None:
        assert found is None
        return
    assert found is not None
    k, at_zero, best = found
    totals = {j: _brute(energy, intensity, j) for j in range(offsets + 1)}
    priced = {j: t for j, t in totals.items() if t is not None}
    assert abs(at_zero - base) <= 1e-9 * max(1.0, base)
    assert abs(best - min(priced.values())) <= 1e-6 * max(1.0, best)
    assert k in priced and abs(priced[k] - best) <= 1e-6 * max(1.0, best)
    # ties go to the earliest start: no earlier offset is clearly cleaner
    assert all(priced[j] > best - 1e-6 * max(1.0, best) for j in priced if j < k)


def test_runs_still_running_or_never_priced_are_listed_with_why() -> None:
    done = make_record("done")
    running = replace(make_record("going"), status=Status.RUNNING)
    unpriced = make_record("unpriced")
    assert unpriced.footprint is not None
    unpriced = replace(unpriced, footprint=replace(unpriced.footprint, carbon=None))
    report = what_if(
        parse_what_if("pue=1.2"), [done, running, unpriced], lambda _: [], load_config()
    )
    assert [r.run_id for r in report.runs] == ["done"]
    why = {u.run_id: u.reason for u in report.unpriced}
    assert "still running" in why["going"] and "never priced" in why["unpriced"]
