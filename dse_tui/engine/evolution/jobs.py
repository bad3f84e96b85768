"""Evolutions run as jobs of the one job runner: the queue is the jobs table, so it survives
a restart, and a job left running by a dead process is taken over (its evolution re-run)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dse_tui.engine.jobs.runner import Step
from dse_tui.store.evolutions import FINAL, EvolutionRepository

from .evolve import EvolutionSettings, Evolver
from .generator import Generator


class EvolveKind:
    name = "evolve"

    def __init__(
        self,
        evolver: Evolver,
        evolutions: EvolutionRepository,
        generator: Callable[[str, EvolutionSettings], Generator],
        settings: Callable[[], EvolutionSettings],
    ) -> None:
        self.evolver = evolver
        self.evolutions = evolutions
        self.generator = generator  # (artifact id, settings) -> the generator to ask
        self.settings = settings

    def plan(self, params: dict[str, Any]) -> int | None:
        return 1

    def step(self, params: dict[str, Any], cursor: Any) -> Step:
        record = self.evolutions.get(int(params["evolution_id"]))
        if record is None or record.status in FINAL:
            return Step(1, 0, True, "already finished")
        settings = self.settings()
        result = self.evolver.evolve(record.id, self.generator(record.artifact_id, settings), settings)
        return Step(1, 1, True, f"{record.name}: {result.status}")
