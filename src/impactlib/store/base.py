"""Store operations in terms of two primitives each back-end provides: :meth:`Store.read`
and :meth:`Store.write`.

They are the store's public interface below the named operations: the rollups
(:mod:`.rollup`) and ``sync`` (:mod:`.sync`) run their own statements through them, with
the ``:name`` parameters of :mod:`.schema`, on SQLite and PostgreSQL alike. Reading a record
is only reading: whether a ``running`` record's process died is judged by the caller that
shows it (:func:`.records.with_liveness`), not here.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .._time import iso_utc, now_utc
from ..footprint import Footprint, Status
from . import schema, slurmjobs
from .budgets import Budget, BudgetScope, BudgetUnit, Period, Target, budget_order
from .records import RunRecord, SeriesRow

Row = Sequence[Any]


class Store(ABC):
    """Run records and their per-minute series."""

    location: str = ""

    def __init__(self) -> None:
        self._stamp_lock = threading.Lock()
        self._last_stamp: datetime | None = None

    def _next_stamp(self) -> str:
        """The ``updated_at`` of a write: to the microsecond, and always after this store's
        previous one. Rollups and ``sync`` tell a changed run by a newer stamp; two
        checkpoints can fall in one millisecond (a flush, then ``stop()``) and the clock can
        step back, and either would leave the later figures unseen."""
        with self._stamp_lock:
            now = now_utc()
            if self._last_stamp is not None and now <= self._last_stamp:
                now = self._last_stamp + timedelta(microseconds=1)
            self._last_stamp = now
        return iso_utc(now, timespec="microseconds")

    @abstractmethod
    def write(
        self, statements: Iterable[tuple[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]]]
    ) -> None:
        """Run ``(sql, params)`` pairs in one write transaction, all or none (a list of
        params runs the statement once per item); :class:`~impactlib.errors.StoreError`
        when the store refuses."""

    @abstractmethod
    def read(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        """The rows of one read-only query with ``:name`` parameters."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""

    # -- writing -----------------------------------------------------------------------
    def insert_run(self, record: RunRecord, save_interval: float) -> None:
        """Create the record of a run that is starting (status ``running``)."""
        self.write([(schema.INSERT_RUN, insert_params(record, save_interval))])

    def checkpoint(
        self,
        run_id: str,
        status: str,
        footprint: Footprint,
        series: Sequence[SeriesRow],
        epochs: Sequence[float] = (),
    ) -> None:
        """Save the run's current figures and (new or changed) series rows atomically."""
        self.write(self._checkpoint_statements(run_id, status, footprint, series, epochs))

    def _checkpoint_statements(
        self,
        run_id: str,
        status: str,
        footprint: Footprint,
        series: Sequence[SeriesRow],
        epochs: Sequence[float],
    ) -> list[tuple[str, Any]]:
        run_params = {
            "id": run_id,
            "updated_at": self._next_stamp(),
            "status": status,
            "ended_at": footprint.ended_at,
            "duration_s": footprint.duration_s,
            "energy_kwh": footprint.energy_kwh,
            "emissions_kg": footprint.emissions_kg,
            "footprint": json.dumps(footprint.to_dict()),
            "epochs": json.dumps(list(epochs)),
        }
        statements: list[tuple[str, Any]] = [(schema.UPDATE_RUN, run_params)]
        if series:
            statements.append(
                (
                    schema.UPSERT_SERIES,
                    [
                        {
                            "run_id": r.run_id,
                            "minute": r.minute,
                            "component": r.component,
                            "energy_j": r.energy_j,
                        }
                        for r in series
                    ],
                )
            )
        return statements

    def set_model(self, run_id: str, model: Mapping[str, Any]) -> None:
        """Attach model metrics to a run."""
        self.write([(schema.UPDATE_MODEL, {"id": run_id, "model": json.dumps(dict(model))})])

    def save_floors(self, host: str, floors_w: Mapping[str, float]) -> None:
        """Remember the lowest power seen per domain on this host."""
        now = iso_utc(now_utc())
        rows = [
            {"host": host, "domain": d, "watts": w, "updated_at": now} for d, w in floors_w.items()
        ]
        if rows:
            self.write([(schema.UPSERT_FLOOR, rows)])

    def add_host_minutes(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add the daemon's per-minute aggregates (host, minute, kind, name, domain,
        energy_j, floor_w: the energy adds to what the row holds), in one transaction."""
        if rows:
            # The lab reports' monthly rollup, kept current in the same transaction.
            statements: list[tuple[str, Any]] = [(schema.ADD_HOST_MINUTE, list(rows))]
            months = schema.host_month_increments(rows)
            if months:
                statements.append((schema.ADD_HOST_MONTH, months))
            self.write(statements)

    def set_budget(self, budget: Budget) -> None:
        """Keep ``budget``, replacing the one of the same target, period and unit."""
        params = {
            "scope": budget.target.scope.value,
            "name": budget.target.name,
            "period": budget.period.text,
            "unit": budget.unit.value,
            "amount": budget.amount,
            "updated_at": iso_utc(now_utc()),
        }
        self.write([(schema.UPSERT_BUDGET, params)])

    def remove_budgets(
        self, target: Target, period: Period, unit: BudgetUnit | None = None
    ) -> list[Budget]:
        """Remove the budgets of ``target`` and ``period`` (of one ``unit`` when given);
        returns those removed."""
        gone = [b for b in self.budgets(target, period) if unit is None or b.unit is unit]
        rows = [
            {
                "scope": b.target.scope.value,
                "name": b.target.name,
                "period": b.period.text,
                "unit": b.unit.value,
            }
            for b in gone
        ]
        if rows:
            self.write([(schema.DELETE_BUDGET, rows)])
        return gone

    # -- reading -----------------------------------------------------------------------
    def budgets(self, target: Target | None = None, period: Period | None = None) -> list[Budget]:
        """The budgets kept (of one target, one period, when given): the lab's first, then
        by target, period and unit (sorted here: databases collate text differently)."""
        params = {
            "scope": None if target is None else target.scope.value,
            "name": None if target is None else target.name,
            "period": None if period is None else period.text,
        }
        found = [
            Budget(
                Target(BudgetScope(scope), str(name)),
                Period(str(p)),
                BudgetUnit(unit),
                float(amount),
            )
            for scope, name, p, unit, amount in self.read(schema.SELECT_BUDGETS, params)
        ]
        return sorted(found, key=budget_order)

    def host_minutes(self, host: str, kind: str | None = None) -> list[tuple[Any, ...]]:
        """The daemon's per-minute aggregates of ``host`` (of one ``kind`` when given):
        (host, minute, kind, name, domain, energy_j, floor_w), oldest first."""
        rows = self.read(schema.SELECT_HOST_MINUTES, {"host": host, "kind": kind})
        return [tuple(row) for row in rows]

    def floors(self, host: str) -> dict[str, float]:
        """Remembered floors of ``host``."""
        return {str(d): float(w) for d, w in self.read(schema.SELECT_FLOORS, {"host": host})}

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run by id, or by a unique id prefix."""
        rows = self.read(schema.SELECT_RUN, {"id": run_id})
        if not rows and run_id:
            rows = self.read(schema.SELECT_RUN_PREFIX, {"prefix": f"{run_id}%"})
            if len(rows) != 1:
                return None
        return self._record(rows[0]) if rows else None

    def list_runs(
        self, project: str | None = None, experiment: str | None = None, *, superseded: bool = False
    ) -> list[RunRecord]:
        """Runs, oldest first, optionally of one project/experiment; without the SLURM
        accounting records that a tracker's run stands for (one record per job,
        :mod:`.slurmjobs`), unless ``superseded``."""
        rows = self.read(schema.SELECT_RUNS, {"project": project, "experiment": experiment})
        records = [self._record(row) for row in rows]
        return records if superseded else slurmjobs.standing(records)

    def series(self, run_id: str) -> list[SeriesRow]:
        """The per-minute series of a run."""
        rows = self.read(schema.SELECT_SERIES, {"run_id": run_id})
        return [SeriesRow(str(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in rows]

    @staticmethod
    def _record(values: Row) -> RunRecord:
        row = schema.RunRow._make(values)
        return RunRecord(
            id=row.id,
            project=row.project,
            experiment=row.experiment,
            user=row.username,
            host=row.host,
            pid=int(row.pid),
            command=row.command,
            git_commit=row.git_commit,
            started_at=row.started_at,
            ended_at=row.ended_at,
            updated_at=row.updated_at,
            status=Status(row.status),
            config=json.loads(row.config) if row.config else {},
            footprint=Footprint.from_dict(json.loads(row.footprint)) if row.footprint else None,
            model=json.loads(row.model) if row.model else None,
            epochs=tuple(json.loads(row.epochs)) if row.epochs else (),
            save_interval=float(row.save_interval),
        )


def insert_params(record: RunRecord, save_interval: float) -> dict[str, Any]:
    """The parameters that create a run's row (shared by trackers, ingestion and sync)."""
    return {
        "id": record.id,
        "project": record.project,
        "experiment": record.experiment,
        "username": record.user,
        "host": record.host,
        "pid": record.pid,
        "command": record.command,
        "git_commit": record.git_commit,
        "started_at": record.started_at,
        "updated_at": record.updated_at,
        "save_interval": save_interval,
        "config": json.dumps(record.config, default=str),
    }
