"""BoAmps' published schemas (tests/data/boamps, with their licence and source), as
validators: the report schema with its sub-schemas registered at the addresses it refers to."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent / "data" / "boamps"
BASE = "https://raw.githubusercontent.com/Boavizta/BoAmps/main/model/"
PARTS = ("algorithm", "dataset", "measure", "hardware")


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}_schema.json").read_text())
    return loaded


def _closed(schema: Any) -> Any:
    """``schema`` with every object's properties closed: a key BoAmps does not define fails."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def validators(closed: bool = False) -> Iterator[Any]:
    """The report schema's validators with its sub-schemas registered at the addresses it
    refers to: the draft it declares (04) and the one BoAmps' own validate-schema.py uses."""
    shape = _closed if closed else copy.deepcopy
    registry: Registry[Any] = Registry().with_resources(
        (f"{BASE}{name}_schema.json", Resource.from_contents(shape(_schema(name))))
        for name in PARTS
    )
    schema = shape(_schema("report"))
    yield Draft4Validator(schema, registry=registry)
    yield Draft202012Validator(schema, registry=registry)


def assert_valid(report: dict[str, Any]) -> None:
    """Valid for BoAmps, and made of the fields BoAmps defines only."""
    for closed in (False, True):
        for validator in validators(closed):
            errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(report)]
            assert errors == [], (closed, type(validator).__name__, errors)
