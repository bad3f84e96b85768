"""One evolution of an artifact: ask for a candidate, and promote it only on measured evidence.

A candidate is promoted only if every one of these holds, in this order (cheapest first):
  0. the spec is not weak: it kills at least `strong_strength` of the incumbent's mutants
     (otherwise the run stops before any model is asked, and says to strengthen the spec);
  1. it passes the incumbent's whole spec, held-out behaviours included;
  2. on the recorded inputs it returns what the incumbent returned, except where the
     incumbent failed (the differential check);
  3. it beats the incumbent on the drifted measure: for time, in interleaved paired rounds
     in the sandbox, a one-sided Mann-Whitney U below `alpha` and a median gain beyond the
     A/A noise floor (the incumbent against itself, measured the same way) by `min_gain`;
     for reliability, it answers recorded inputs the incumbent failed on.
For time, every attempt the budget allows is asked (each told how the one before did) and the
fastest candidate that passed everything wins; a reliability or quality fix is taken at once.
It is stored as the next version with an `evolved_from` edge, and the incumbent is kept
(superseded; `rollback` swaps them back). Every outcome is stored with its reason.
"""

from __future__ import annotations

import difflib
import math
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dse_tui.engine import presets
from dse_tui.engine.errors import BadInput, NotFound
from dse_tui.engine.events import EventBus, EvolutionFinished
from dse_tui.engine.generation.codeextract import ExtractionError, extract_code
from dse_tui.engine.library.assess import assess
from dse_tui.engine.library.storing import Catalog
from dse_tui.engine.sandbox import Sandbox
from dse_tui.engine.specs.judge import run_spec
from dse_tui.engine.specs.spec import Spec, parse_spec
from dse_tui.store.artifacts import ArtifactRepository
from dse_tui.store.drift import DriftRepository
from dse_tui.store.evolutions import EvolutionRepository
from dse_tui.store.metrics import MetricsRepository
from dse_tui.store.records import Artifact, LineageKind

from . import stats
from .differential import differential, incumbent_outcomes
from .generator import Generated, GenerationRefused, Generator
from .paired import MeasureFailed, Side, paired_times
from .strategies import Strategy, build_messages, strategy_for


@dataclass(frozen=True)
class EvolutionSettings:
    budget_usd: float = 0.5
    timeout_s: float = 300.0
    attempts: int = 3
    rounds: int = 30
    min_rounds: int = 20
    alpha: float = 0.01
    min_gain: float = 0.05
    strong_strength: float = 0.6

    @classmethod
    def load(cls, **overrides: Any) -> EvolutionSettings:
        settings = presets.living_settings(cls, "evolution", **overrides)
        for key in ("budget_usd", "timeout_s", "alpha", "min_gain", "strong_strength"):
            value = getattr(settings, key)
            if not (math.isfinite(value) and value >= 0):
                raise BadInput(f"evolution {key} must be a number >= 0, got {value}")
        if settings.attempts < 1 or settings.rounds < settings.min_rounds or settings.min_rounds < 5:
            raise BadInput("evolution needs attempts >= 1 and rounds >= min_rounds >= 5")
        return settings


class Rejected(Exception):
    """The candidate lost; the message says which check and by how much."""


class TimedOut(Exception):
    pass


@dataclass
class EvolutionResult:
    evolution_id: int
    artifact_id: str
    status: str  # promoted | rejected | failed | timeout
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    cost_usd: float = 0.0
    candidate: Artifact | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "evolution_id": self.evolution_id,
            "artifact_id": self.artifact_id,
            "status": self.status,
            "reason": self.reason,
            "candidate_id": self.candidate.id if self.candidate else None,
            "candidate_version": self.candidate.version if self.candidate else None,
            "cost_usd": round(self.cost_usd, 6),
            "evidence": self.evidence,
        }


class Evolver:
    def __init__(
        self,
        artifacts: ArtifactRepository,
        metrics: MetricsRepository,
        drift: DriftRepository,
        evolutions: EvolutionRepository,
        catalog: Catalog,
        sandbox: Callable[[], Sandbox],
        events: EventBus,
    ) -> None:
        self.artifacts = artifacts
        self.metrics = metrics
        self.drift = drift
        self.evolutions = evolutions
        self.catalog = catalog
        self.sandbox = sandbox
        self.events = events

    # -- the whole run ---------------------------------------------------------------------

    def evolve(
        self,
        evolution_id: int,
        generator: Generator,
        settings: EvolutionSettings,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> EvolutionResult:
        record = self.evolutions.get(evolution_id)
        if record is None:
            raise NotFound(f"no evolution {evolution_id}")
        artifact = self.artifacts.get(record.artifact_id)
        if artifact is None:
            raise NotFound(f"the artifact of evolution {evolution_id} is gone")
        self.evolutions.start(evolution_id)
        deadline = clock() + settings.timeout_s
        cancel = threading.Event()
        run = _Run(
            self,
            artifact,
            strategy_for(record.type),
            settings,
            generator,
            rng or random.Random(),
            deadline,
            clock,
            cancel,
        )
        try:
            result = run.go(evolution_id)
        except GenerationRefused as exc:  # past a contender: a refusal ends the search, not the run
            result = EvolutionResult(
                evolution_id, artifact.id, "failed", f"no candidate: {exc}", run.evidence, run.cost
            )
        except TimedOut as exc:
            cancel.set()
            result = EvolutionResult(evolution_id, artifact.id, "timeout", str(exc), run.evidence, run.cost)
        self.evolutions.finish(
            evolution_id,
            result.status,
            result.reason,
            evidence=result.evidence,
            cost_usd=result.cost_usd,
            candidate_id=result.candidate.id if result.candidate else None,
        )
        if result.status == "promoted":
            self.drift.close_open(artifact.id, record.type, "resolved", f"evolved: v{result.candidate.version}")  # type: ignore[union-attr]
        self.events.publish(
            EvolutionFinished(
                evolution_id,
                artifact.id,
                result.status,
                result.reason,
                result.candidate.id if result.candidate else None,
            )
        )
        return result

    # -- rollback --------------------------------------------------------------------------

    def rollback(self, artifact: Artifact) -> tuple[Artifact, Artifact]:
        """The evolved version `artifact` (or the name's current one) gives way to the version
        it evolved from. Returns (restored, rolled back)."""
        parents = [
            e
            for e in self.artifacts.edges(artifact.id)
            if e.kind == LineageKind.EVOLVED_FROM and e.child_id == artifact.id
        ]
        if not parents:
            raise BadInput(f"{artifact.name} v{artifact.version} was not made by evolution: nothing to roll back to")
        if artifact.superseded_by is not None:
            raise BadInput(f"{artifact.name} v{artifact.version} is not the version in use: it was rolled back already")
        incumbent = self.artifacts.get(parents[-1].parent_id)
        if incumbent is None:
            raise NotFound("the version it evolved from is gone")
        self.artifacts.supersede(incumbent.id, None)
        self.artifacts.supersede(artifact.id, incumbent.id)
        promoted = self.evolutions.promoted_to(artifact.id)
        if promoted is not None:
            self.evolutions.mark(promoted.id, "rolled_back", f"rolled back to v{incumbent.version} by the user")
        return self.artifacts.get(incumbent.id) or incumbent, self.artifacts.get(artifact.id) or artifact


class _Run:
    """The state of one evolution, so each step reads plainly."""

    def __init__(
        self,
        owner: Evolver,
        artifact: Artifact,
        strategy: Strategy,
        settings: EvolutionSettings,
        generator: Generator,
        rng: random.Random,
        deadline: float,
        clock: Callable[[], float],
        cancel: threading.Event,
    ) -> None:
        self.o = owner
        self.artifact = artifact
        self.strategy = strategy
        self.settings = settings
        self.generator = generator
        self.rng = rng
        self.deadline = deadline
        self.clock = clock
        self.cancel = cancel
        self.cost = 0.0
        self.evidence: dict[str, Any] = {"strategy": strategy.drift, "goal": strategy.goal, "attempts": []}

    def left(self) -> float:
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            raise TimedOut(f"the evolution's timeout of {self.settings.timeout_s:g} s passed")
        return remaining

    def go(self, evolution_id: int) -> EvolutionResult:
        a = self.artifact
        if a.superseded_by is not None:
            return self._end(evolution_id, "rejected", f"{a.name} v{a.version} is not the version in use")
        spec = parse_spec(a.spec, origin=f"{a.name} v{a.version}")
        weak = self.weak_spec(spec)
        if weak:
            return self._end(evolution_id, "rejected", weak)
        sandbox = self.o.sandbox()
        inputs = self.o.metrics.recorded_inputs(a.id)
        before = incumbent_outcomes(a.content, a.function, inputs, sandbox)
        failing = [{"input": i, "error": r.error} for i, r in zip(inputs, before, strict=True) if not r.ok]
        timing_inputs = [i for i, r in zip(inputs, before, strict=True) if r.ok] or self.spec_inputs(spec)
        self.evidence["recorded_inputs"] = len(inputs)
        self.evidence["incumbent_failed_inputs"] = len(failing)
        if self.strategy.measure == "time":
            try:
                self.evidence["noise_floor"] = self.noise_floor(sandbox, timing_inputs)
            except Rejected as exc:
                return self._end(evolution_id, "failed", str(exc))
        figures = self.figures()
        self.evidence["figures"] = figures
        previous: tuple[str, str] | None = None
        best: tuple[float, str, Any, Generated, dict[str, Any]] | None = None
        last_reason = "no candidate was offered"
        for attempt in range(self.settings.attempts):
            if attempt and self.cost >= self.settings.budget_usd:
                last_reason += f"; the evolution's budget of ${self.settings.budget_usd:g} is spent"
                break
            if best is not None and self.deadline - self.clock() < self.settings.timeout_s / 4:
                break  # a contender is in hand: keep the time left for storing it
            messages = build_messages(self.strategy, a, spec, figures, failing, previous)
            try:
                generated = self.ask(messages, attempt)
            except GenerationRefused as exc:
                if best is not None:
                    break  # no more asking (budget, tiers): the contender in hand stands
                return self._end(evolution_id, "failed", f"no candidate: {exc}")
            self.cost += generated.cost_usd
            step: dict[str, Any] = {"attempt": attempt + 1, "tier": generated.tier, "cost_usd": generated.cost_usd}
            self.evidence["attempts"].append(step)
            try:
                code = extract_code(generated.text, spec.function)
                step["diff"] = "".join(
                    difflib.unified_diff(
                        a.content.splitlines(True), code.splitlines(True), "incumbent", "candidate", n=2
                    )
                )[:4000]
                results = self.check_candidate(code, spec, sandbox, inputs, before, timing_inputs, step)
            except (ExtractionError, Rejected) as exc:
                last_reason = str(exc)
                step["rejected"] = last_reason
                previous = (generated.text if isinstance(exc, ExtractionError) else code, last_reason)
                continue
            if self.strategy.measure != "time":  # a fix is a fix: the first one is taken
                return self.promote(evolution_id, spec, code, results, generated, step)
            # faster: every attempt the budget allows is a contender; the fastest measured wins
            gain = step["paired"]["gain"]
            step["contender"] = True
            if best is None or gain > best[0]:
                best = (gain, code, results, generated, step)
            previous = (code, f"it was taken: {gain * 100:.1f}% faster. A faster one would replace it.")
        if best is not None:
            _, code, results, generated, step = best
            return self.promote(evolution_id, spec, code, results, generated, step)
        return self._end(evolution_id, "rejected", f"no candidate was promoted; the last: {last_reason}")

    def promote(
        self, evolution_id: int, spec: Spec, code: str, results: Any, generated: Generated, step: dict[str, Any]
    ) -> EvolutionResult:
        a = self.artifact
        self.left()
        promoted = self.o.catalog.persist(
            code,
            spec,
            results,
            name=a.name,
            tags=a.tags,
            provenance={
                "source": "evolved",
                "tier": generated.tier,
                "evolution": evolution_id,
                "drift": self.strategy.drift,
                "from": a.id,
            },
            new_version=True,
            lineage=[(LineageKind.EVOLVED_FROM, a.id)],
            metadata={k: v for k, v in a.metadata.items() if k != "function"},
        )
        self.o.artifacts.supersede(a.id, promoted.id)
        step["promoted"] = promoted.id
        gain = step.get("paired", {}).get("gain")
        why = f"v{promoted.version} promoted"
        if gain is not None:
            why += (
                f": {gain * 100:.1f}% faster (p={step['paired']['p']:.2g}), "
                f"noise floor {self.evidence['noise_floor']['gap'] * 100:.1f}%"
            )
        elif step.get("fixed"):
            why += f": answers {step['fixed']} recorded input(s) the incumbent failed on"
        promoted = self.o.artifacts.get(promoted.id) or promoted
        return EvolutionResult(evolution_id, a.id, "promoted", why, self.evidence, self.cost, promoted)

    def _end(self, evolution_id: int, status: str, reason: str) -> EvolutionResult:
        return EvolutionResult(evolution_id, self.artifact.id, status, reason, self.evidence, self.cost)

    # -- the checks ------------------------------------------------------------------------

    def weak_spec(self, spec: Spec) -> str | None:
        share = self.artifact.strength
        if share is None:  # never measured (an old store): measure it now, DSE judging
            results = run_spec(self.artifact.content, spec, self.o.sandbox(), coverage=False)
            _, share, _ = assess(self.artifact.content, spec, results, self.o.sandbox())
        self.evidence["spec_strength"] = share
        if share is None or share < self.settings.strong_strength:
            shown = "unmeasured" if share is None else f"{share * 100:.0f}%"
            return (
                f"the spec is weak: it kills {shown} of the incumbent's mutants (needs "
                f"{self.settings.strong_strength * 100:.0f}%), so a wrong candidate could pass it; "
                f"strengthen the spec first (dse show {self.artifact.id[:8]} lists the mutants that survive)"
            )
        return None

    def spec_inputs(self, spec: Spec) -> list[dict[str, Any]]:
        return [dict(b.given) for b in spec.behaviors if "raises" not in b.then]

    def _paired(self, sandbox: Sandbox, first: Side, second: Side, inputs: list[dict[str, Any]]) -> Any:
        try:
            return paired_times(
                sandbox,
                first,
                second,
                inputs,
                rounds=self.settings.rounds,
                rng=self.rng,
                deadline=self.deadline,
                clock=self.clock,
            )
        except MeasureFailed as exc:
            raise Rejected(f"could not be timed: {exc}") from None

    def noise_floor(self, sandbox: Sandbox, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """The incumbent against itself, measured exactly as a candidate will be: the gain
        that measurement alone produces."""
        side = Side(self.artifact.content, self.artifact.function)
        times = self._paired(sandbox, side, side, inputs)
        self.left()
        if len(times.a_ms) < self.settings.min_rounds:
            raise Rejected(f"only {len(times.a_ms)} A/A rounds were measured (needs {self.settings.min_rounds})")
        test = stats.wilcoxon_less(times.a_ms, times.b_ms)
        return {"gap": round(abs(test.gain), 4), "p": round(test.p_less, 6), "rounds": test.n, "times": times.to_dict()}

    def figures(self) -> dict[str, Any]:
        recent, before = self.o.metrics.last_against_before(self.artifact.id)
        out: dict[str, Any] = {}
        if recent.mean_ms is not None:
            out["recent mean"] = f"{recent.mean_ms:.3f} ms"
        if before.mean_ms is not None:
            out["earlier mean"] = f"{before.mean_ms:.3f} ms"
        if recent.count:
            out["recent error rate"] = f"{(recent.error_rate or 0) * 100:.1f}%"
        return out

    def ask(self, messages: list, attempt: int) -> Generated:
        """The generator's answer, or TimedOut at the deadline (the call is abandoned)."""
        box: dict[str, Any] = {}
        done = threading.Event()

        def call() -> None:
            try:
                box["value"] = self.generator.generate(
                    messages,
                    attempt=attempt,
                    stronger=self.strategy.stronger_tier,
                    cancel=self.cancel,
                    budget_usd=self.settings.budget_usd - self.cost,
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the evolution's thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=call, name="dse-evolution-call", daemon=True).start()
        if not done.wait(self.left()):
            self.cancel.set()
            raise TimedOut(
                f"the evolution's timeout of {self.settings.timeout_s:g} s passed while the model was writing"
            )
        if "error" in box:
            error = box["error"]
            if isinstance(error, GenerationRefused):
                raise error
            raise GenerationRefused(f"{type(error).__name__}: {error}")
        return box["value"]

    def check_candidate(
        self,
        code: str,
        spec: Spec,
        sandbox: Sandbox,
        inputs: list[dict[str, Any]],
        before: list,
        timing_inputs: list[dict[str, Any]],
        step: dict[str, Any],
    ):
        self.left()
        results = run_spec(code, spec, sandbox)
        split = results.split()
        step["spec"] = split
        if not results.all_passed:
            # this reason is also the next attempt's feedback: held-out failures are counted only
            visible = [c for c in results.failed if not c.held_out]
            held = len(results.failed) - len(visible)
            if visible:
                also = f" (and {held} held-out behaviour(s))" if held else ""
                raise Rejected(f"fails the spec: {visible[0].name}: {visible[0].message}{also}")
            if held:
                raise Rejected(f"fails {held} held-out behaviour(s) of the spec")
            raise Rejected(f"fails the spec: {results.error or 'it did not pass'}")
        self.left()
        diff = differential(before, code, spec.function, inputs, sandbox)
        step["differential"] = diff.to_dict()
        if not diff.agrees:
            first = diff.differing[0]
            raise Rejected(
                f"differs from the incumbent on {len(diff.differing)} recorded input(s), e.g. {first['input']}: "
                f"{first['incumbent']} -> {first['candidate']}"
            )
        if self.strategy.measure == "failures":
            if not diff.incumbent_failed:
                raise Rejected("there is no recorded input the incumbent fails on to judge a reliability fix by")
            if not diff.candidate_fixed:
                raise Rejected(
                    f"answers none of the {len(diff.incumbent_failed)} recorded inputs the incumbent failed on"
                )
            step["fixed"] = diff.candidate_fixed
        elif self.strategy.measure == "time":
            self.faster(code, spec, sandbox, timing_inputs, step)
        return results

    def faster(
        self, code: str, spec: Spec, sandbox: Sandbox, inputs: list[dict[str, Any]], step: dict[str, Any]
    ) -> None:
        """Faster beyond the noise floor in paired rounds, twice: a second, independent
        measurement must agree (a promotion is a reproducible fact, not one lucky run)."""
        incumbent, candidate = Side(self.artifact.content, self.artifact.function), Side(code, spec.function)
        floor = self.evidence["noise_floor"]["gap"]
        need = floor + self.settings.min_gain
        runs = []
        for label in ("measured", "replicated"):
            times = self._paired(sandbox, incumbent, candidate, inputs)
            if len(times.b_ms) < self.settings.min_rounds:
                self.left()
                raise Rejected(f"only {len(times.b_ms)} paired rounds were measured (needs {self.settings.min_rounds})")
            test = stats.wilcoxon_less(times.a_ms, times.b_ms)
            runs.append(
                {
                    "label": label,
                    "gain": round(test.gain, 4),
                    "p": round(test.p_less, 8),
                    "rounds": test.n,
                    "incumbent_median_ms": round(statistics.median(times.a_ms), 5),
                    "candidate_median_ms": round(statistics.median(times.b_ms), 5),
                    "times": times.to_dict(),
                }
            )
            step["paired"] = {**runs[0], "replicated": runs[1:]}
            if test.gain <= need or test.p_less >= self.settings.alpha:
                again = " on replication" if label == "replicated" else ""
                raise Rejected(
                    f"not faster beyond the noise floor{again}: {test.gain * 100:+.1f}% (needs > {need * 100:.1f}%: "
                    f"A/A floor {floor * 100:.1f}% + {self.settings.min_gain * 100:.0f}%), p={test.p_less:.2g} "
                    f"(needs < {self.settings.alpha:g})"
                )
        # the figure a promotion states is the smaller of the two gains
        weaker = min(runs, key=lambda r: r["gain"])
        step["paired"] = {**weaker, "measured": runs[0]["gain"], "replicated": runs[1]["gain"]}
