"""Attribution: exact bookkeeping, and real processes against a fake RAPL counter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impactlib.attribution.shares import (
    DomainAccount,
    Floor,
    Shares,
    cpu_shares,
    gpu_shares,
    memory_shares,
)
from impactlib.footprint import ChargedTo, FloorSource
from impactlib.meters.base import Domain

DOMAIN = Domain("cpu:package-0", "cpu", "rapl", "machine", "measured")


@given(
    st.lists(
        st.tuples(
            st.floats(0, 500),  # joules
            st.floats(0.01, 5),  # seconds
            st.floats(0, 1),
            st.floats(0, 1),
            st.integers(0, 3),  # minute
        ),
        min_size=1,
        max_size=40,
    ),
    st.none() | st.floats(0, 50),
)
@settings(max_examples=200, deadline=None)
def test_conservation_per_domain_and_per_minute(
    intervals: list[tuple[float, float, float, float, int]], prior: float | None
) -> None:
    known = Floor(prior, FloorSource.CALIBRATED) if prior is not None else None
    account = DomainAccount(DOMAIN, known_floor=known)
    for energy, dt, busy, idle, minute in intervals:
        account.add(energy, dt, minute, Shares(busy, idle))
    comp = account.component(ChargedTo.TREE)
    measured = sum(i[0] for i in intervals)
    assert comp.domain_j == pytest.approx(measured)
    assert comp.dynamic_j + comp.idle_j + comp.unattributed_j == pytest.approx(measured, abs=1e-6)
    assert comp.dynamic_j >= 0 and comp.idle_j >= 0 and comp.unattributed_j >= -1e-6
    per_minute = account.minute_charged_j()
    assert sum(per_minute.values()) <= measured + 1e-6


def test_floor_is_applied_retroactively_with_the_final_minimum() -> None:
    account = DomainAccount(DOMAIN)
    # 100 W then 60 W then 80 W, one second each; the scope uses half the busy time and a
    # quarter of capacity.
    for power in (100.0, 60.0, 80.0):
        account.add(power, 1.0, 0, Shares(0.5, 0.25))
    comp = account.component(ChargedTo.TREE)
    floor = 60.0
    expected_dynamic = sum((p - floor) * 0.5 for p in (100, 60, 80))
    expected_idle = floor * 3 * 0.25
    assert account.floor_w == floor
    assert comp.dynamic_j == pytest.approx(expected_dynamic)
    assert comp.idle_j == pytest.approx(expected_idle)
    assert comp.unattributed_j == pytest.approx(240 - expected_dynamic - expected_idle)
    assert comp.quality == "attributed"


def test_machine_scope_takes_everything_as_measured() -> None:
    account = DomainAccount(DOMAIN)
    account.add(50.0, 1.0, 0, Shares(1.0, 1.0))
    account.add(70.0, 1.0, 1, Shares(1.0, 1.0))
    comp = account.component(ChargedTo.MACHINE)
    assert comp.energy_j == pytest.approx(120.0) and comp.unattributed_j == pytest.approx(0.0)
    assert comp.quality == "measured"
    assert account.minute_charged_j() == pytest.approx({0: 50.0, 1: 70.0})


def test_share_policies() -> None:
    # 2 of 8 CPUs busy for the scope, 6 CPU-seconds busy on the machine in 1 s.
    assert cpu_shares("usage", 2.0, 6.0, 8, 1.0, 0.5) == Shares(pytest.approx(1 / 3), 0.25)
    assert cpu_shares("allocation", 2.0, 6.0, 8, 1.0, 0.5) == Shares(pytest.approx(1 / 3), 0.5)
    assert cpu_shares("none", 2.0, 6.0, 8, 1.0, 0.5).idle == 0.0
    assert cpu_shares("usage", 1.0, 0.0, 8, 1.0, 1.0).busy == 0.0
    assert gpu_shares("usage", 30.0, 90.0, True, True) == Shares(
        pytest.approx(1 / 3), pytest.approx(1 / 3)
    )
    assert gpu_shares("usage", 0.0, 0.0, True, True) == Shares(1.0, 1.0)  # only we hold it
    assert gpu_shares("usage", 0.0, 0.0, False, True) == Shares(0.0, 0.0)  # nobody uses it
    assert gpu_shares("allocation", 0.0, 0.0, False, True) == Shares(0.0, 1.0)
    assert memory_shares("usage", 2e9, 8e9, 1.0) == Shares(0.25, 0.25)
    assert memory_shares("none", 2e9, 8e9, 1.0) == Shares(0.0, 0.0)
