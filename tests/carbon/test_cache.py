"""Shared provider cache: outages are remembered for everybody, a run's own used-up budget not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from impactlib.carbon import cache as cache_module
from impactlib.carbon.cache import Cache, Fetcher
from impactlib.carbon.http import Budget
from impactlib.errors import BudgetExhausted, HTTPStatusError, ProviderError

BASE = "https://provider.invalid"


def _fetcher(tmp_path: Path, budget_s: float = 4.0) -> Fetcher:
    return Fetcher(timeout_s=1.0, budget=Budget(budget_s), cache=Cache(tmp_path))


def _ask(fetcher: Fetcher) -> Any:
    return fetcher.get_json("gb", BASE, "/intensity", ttl_s=60.0)


def test_used_up_budget_is_not_remembered_as_an_outage(tmp_path: Path) -> None:
    with pytest.raises(BudgetExhausted, match="network budget of 0 s used up"):
        _ask(_fetcher(tmp_path, budget_s=0.0))
    assert Cache(tmp_path).failure(f"down gb {BASE}") is None


@pytest.mark.parametrize(
    "failure",
    [
        ProviderError(f"gb: no answer within 1.0 s from {BASE}/intensity"),
        HTTPStatusError("gb: HTTP 503 Service Unavailable", 503),
    ],
)
def test_outages_are_remembered_for_every_tracker(
    failure: ProviderError, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object, **kwargs: object) -> Any:
        raise failure

    monkeypatch.setattr(cache_module, "get_json", down)
    with pytest.raises(type(failure)):
        _ask(_fetcher(tmp_path))
    assert Cache(tmp_path).failure(f"down gb {BASE}") == str(failure)
    with pytest.raises(ProviderError, match="remembered"):  # another tracker does not ask
        _ask(_fetcher(tmp_path))


def test_answers_are_cached_in_whole_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def answer(*args: object, **kwargs: object) -> Any:
        calls.append(args)
        return {"data": [1, 2, 3]}

    monkeypatch.setattr(cache_module, "get_json", answer)
    assert _ask(_fetcher(tmp_path)) == {"data": [1, 2, 3]}
    assert _ask(_fetcher(tmp_path)) == {"data": [1, 2, 3]}
    assert len(calls) == 1
    files = list((tmp_path / "intensity-v1").iterdir())
    assert len(files) == 1 and not files[0].name.startswith(".")


def test_unwritable_cache_directory_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = Cache(blocker)  # its subdirectory cannot be created
    cache.put("key", {"a": 1}, 60.0)
    assert cache.get("key") is None
