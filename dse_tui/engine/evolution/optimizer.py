"""The offline batch optimizer (paper §5.1): in its window (default 22:00-06:00) or when
forced, the artifacts with open drift are ranked by value and evolved, most valuable first,
each within what is left of the run's budget and the day's; results and ROI are recorded.
It is a job of the job runner: the ranking is fixed when the run starts and the cursor is
committed after each artifact, so a killed run resumes where it stopped."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dse_tui.engine import presets, timewindow
from dse_tui.engine.jobs.runner import Step
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.drift import DriftRepository
from dse_tui.store.evolutions import FINAL, EvolutionRepository
from dse_tui.store.metrics import MetricsRepository

from . import value as values
from .evolve import EvolutionResult, EvolutionSettings
from .generator import Generator


@dataclass(frozen=True)
class OptimizerSettings:
    window: str = "22:00-06:00"
    daily_budget_usd: float = 1.0
    max_candidates: int = 20

    @classmethod
    def load(cls) -> OptimizerSettings:
        v = presets.living("optimizer")
        settings = cls(str(v["window"]), float(v["daily_budget_usd"]), int(v["max_candidates"]))
        timewindow.parse_window(settings.window)
        return settings


def in_window(text: str, now: datetime) -> bool:
    return timewindow.in_window(text, now.hour, now.minute)


def local_midnight(now: datetime) -> float:
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class Optimizer:
    def __init__(
        self,
        artifacts: ArtifactRepository,
        metrics: MetricsRepository,
        drift: DriftRepository,
        evolutions: EvolutionRepository,
        evolve: Callable[[int, Generator, EvolutionSettings], EvolutionResult],
        generator: Callable[[str, EvolutionSettings], Generator],
        *,
        settings: OptimizerSettings | None = None,
        value_settings: values.ValueSettings | None = None,
    ) -> None:
        self.artifacts = artifacts
        self.metrics = metrics
        self.drift = drift
        self.evolutions = evolutions
        self.evolve = evolve
        self.generator = generator
        self.settings = settings or OptimizerSettings.load()
        self.value_settings = value_settings or values.ValueSettings.load()

    def ranked(self, since_days: float = 30.0) -> list[dict[str, Any]]:
        """Artifacts with an open or scheduled drift, by value, highest first."""
        since = datetime.now().astimezone() - timedelta(days=since_days)
        best: dict[str, dict[str, Any]] = {}
        for event in self.drift.list(statuses=["open"], limit=1000):
            artifact = self.artifacts.get(event.artifact_id)
            if artifact is None or artifact.superseded_by is not None:
                continue
            usage, cost = self.metrics.usage_and_cost(artifact.id, since)
            share = values.potential(event.figures, event.type)
            worth = values.value(usage, share, cost)
            row = {
                "artifact_id": artifact.id,
                "name": artifact.name,
                "drift_event": event.id,
                "type": event.type,
                "usage": usage,
                "potential": round(share, 4),
                "cost_per_execution": cost,
                "value": worth,
                "tier": self.value_settings.tier(worth),
            }
            known = best.get(artifact.id)
            if known is None or (worth or 0) > (known["value"] or 0):
                best[artifact.id] = row
        rows = sorted(best.values(), key=lambda r: (r["value"] is not None, r["value"] or 0), reverse=True)
        return rows[: self.settings.max_candidates]

    def budget_left(self, run_budget: float, spent_in_run: float, now: datetime) -> float:
        spent_today = self.evolutions.spent_since(local_midnight(now))
        return max(0.0, min(run_budget - spent_in_run, self.settings.daily_budget_usd - spent_today))

    def refusal(self, force: bool, now: datetime) -> str | None:
        if not force and not in_window(self.settings.window, now):
            return f"outside the optimization window {self.settings.window} (local time); --force runs it now"
        return None


class OptimizeKind:
    """One step per ranked artifact. params: run_id, budget_usd, ranked (fixed at the start)."""

    name = "optimize"

    def __init__(self, optimizer: Optimizer, evolution_settings: Callable[..., EvolutionSettings]) -> None:
        self.optimizer = optimizer
        self.evolution_settings = evolution_settings

    def plan(self, params: dict[str, Any]) -> int | None:
        return len(params["ranked"])

    def step(self, params: dict[str, Any], cursor: Any) -> Step:
        o = self.optimizer
        run = o.evolutions.run(int(params["run_id"])) or {"summary": {}}
        summary = run["summary"] or {"results": []}
        position = int(cursor or 0)
        ranked = params["ranked"]
        if position >= len(ranked):
            self._close(params, summary, finished=True)
            return Step(position, 0, True, "done")
        row = ranked[position]
        now = datetime.now().astimezone()
        left = o.budget_left(float(params["budget_usd"]), float(summary.get("spent_usd", 0.0)), now)
        results = summary.setdefault("results", [])
        done = {r.get("position") for r in results}
        if position in done:  # finished before a kill, only the cursor was lost
            return Step(position + 1, 1, False, f"{row['name']}: already done")
        if row["tier"] == "skip":
            results.append(
                {"position": position, **row, "status": "skipped", "why": "value below the floor or undefined"}
            )
        elif left <= 0:
            results.append({"position": position, **row, "status": "skipped", "why": "budget spent"})
        else:
            settings = self.evolution_settings(budget_usd=min(left, self.evolution_settings().budget_usd))
            evolution_id = summary.get("current", {}).get(str(position))
            record = o.evolutions.get(evolution_id) if evolution_id else None
            if record is None or record.status in FINAL:
                evolution_id = o.evolutions.create(row["artifact_id"], row["type"], "optimizer", row["drift_event"])
                summary.setdefault("current", {})[str(position)] = evolution_id
                o.evolutions.update_run(int(params["run_id"]), summary.get("spent_usd", 0.0), summary, finished=False)
            result = o.evolve(int(evolution_id), o.generator(row["artifact_id"], settings), settings)
            gain = None
            for attempt in result.evidence.get("attempts", []):
                if attempt.get("promoted"):
                    gain = attempt.get("paired", {}).get("gain")
            results.append(
                {
                    "position": position,
                    **row,
                    "status": result.status,
                    "why": result.reason,
                    "evolution_id": evolution_id,
                    "cost_usd": result.cost_usd,
                    **values.roi(row["usage"], row["cost_per_execution"], gain, result.cost_usd),
                }
            )
            summary["spent_usd"] = float(summary.get("spent_usd", 0.0)) + result.cost_usd
        self._close(params, summary, finished=False)
        return Step(position + 1, 1, False, f"{row['name']}: {results[-1]['status']}")

    def _close(self, params: dict[str, Any], summary: dict[str, Any], *, finished: bool) -> None:
        summary["finished_at"] = time.time() if finished else None
        self.optimizer.evolutions.update_run(
            int(params["run_id"]), summary.get("spent_usd", 0.0), summary, finished=finished
        )
