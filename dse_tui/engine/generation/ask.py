"""The ask path: reuse a tested artifact, or climb the model ladder until one passes.

Search first; a hit is served only if it passes the spec given now. Otherwise
generate: each attempt's prompt holds the task, the spec, the nearest tested
artifacts as examples and — on a retry — the previous code with its exact
failures. A pass is stored with provenance; a failure escalates. The loop stops
at max attempts, the budget, the top allowed tier, or a cancel.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from dse_tui.engine import shutdown
from dse_tui.engine.errors import BadInput
from dse_tui.engine.events import (
    AskFinished,
    AttemptFinished,
    AttemptStarted,
    Event,
    EventBus,
    StartTierChosen,
    TierSkipped,
)
from dse_tui.engine.library.assess import verdict
from dse_tui.engine.library.find import Finder
from dse_tui.engine.library.reuse import ReuseOutcome, Reuser, ReuseSettings, query_text
from dse_tui.engine.library.storing import Catalog
from dse_tui.engine.limits import MAX_TASK_CHARS
from dse_tui.engine.specs.spec import Spec
from dse_tui.engine.specs.strength import STRONG_AT
from dse_tui.engine.validation import check_text
from dse_tui.store.ledger import Ledger
from dse_tui.store.records import Artifact, LineageKind
from dse_tui.store.transcripts import AttemptRecord, TranscriptLog

from .budgets import Budget
from .codeextract import ExtractionError, extract_code
from .prompting import Example, PreviousAttempt, build_messages
from .providers import Ladder, Provider, ProviderError, TierConfig, complete_tier, load_ladder_config, provider_for_tier
from .tierlearning import predict_start_tier


@dataclass
class AskSettings:
    reuse_min_similarity: float | None = None  # None: the calibrated floor (presets/retrieval.yaml)
    reuse_min_merit: float = 0.5
    reuse_candidates: int = 3
    strong_strength: float = STRONG_AT  # the share of mutants killed that makes a pass "strong"
    examples: int = 2
    daily_budget_usd: float | None = None  # None: the ladder's (models.yaml daily_budget_usd)
    request_budget_usd: float | None = None  # None: only the daily limit applies
    exclude_examples: frozenset[str] = frozenset()  # artifact names never shown as examples (benchmarks)
    # pressure (engine.pressure): the assessment whose level decides which tiers may run, and
    # each tier's recorded median latency that its ceiling is checked against (before an ask
    # starts; a running call is never killed for it)
    pressure: Any = None
    tier_latency_ms: dict[str, float] = field(default_factory=dict)

    def reuse(self) -> ReuseSettings:
        return ReuseSettings(
            self.reuse_min_similarity, self.reuse_min_merit, self.reuse_candidates, self.strong_strength
        )


@dataclass
class AskResult:
    transcript_id: str
    outcome: str  # generated | reused | failed | cancelled | interrupted
    artifact: Artifact | None
    reused: bool
    tier: str | None
    attempts: int
    cost_usd: float
    reason: str | None = None
    prediction: dict[str, Any] | None = None
    start_tier: str | None = None  # the rung the climb began on (None: reused or nothing usable)
    skipped: list[dict[str, str]] = field(default_factory=list)
    reuse_rejected: list[str] = field(default_factory=list)  # similar artifacts that failed this spec
    results: dict[str, Any] | None = None  # the request's spec run on the code returned
    confirmation: str | None = None  # strong | weak | pending (a reuse measured after the reply)
    strength: float | None = None  # share of the code's mutants the request's spec kills

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact_id": self.artifact.id if self.artifact else None,
            "name": self.artifact.name if self.artifact else None,
            "quality_score": self.artifact.quality_score if self.artifact else None,
            "outcome": self.outcome,
            "reused": self.reused,
            "tier": self.tier,
            "attempts": self.attempts,
            "cost_usd": round(self.cost_usd, 6),
            "transcript_id": self.transcript_id,
            "reason": self.reason,
            "prediction": self.prediction,
            "start_tier": self.start_tier,
            "skipped": self.skipped,
            "reuse_rejected": self.reuse_rejected,
            "split": (self.results or {}).get("split"),
            "confirmation": self.confirmation,
            "strength": self.strength,
        }


@dataclass
class AskServices:
    """What an ask uses, wired by the engine's facade."""

    reuser: Reuser
    finder: Finder
    catalog: Catalog
    transcripts: TranscriptLog
    ledger: Ledger
    events: EventBus
    embed: Callable[[str], Any]
    unit_of_work: Callable[[], AbstractContextManager[Any]]  # one transaction across repositories


class Asker:
    """One ask; holds the per-request state so the loop reads plainly."""

    def __init__(
        self,
        services: AskServices,
        task: str,
        spec: Spec,
        *,
        max_tier: str | None,
        budget_usd: float | None,
        settings: AskSettings,
        ladder: Ladder | None,
        providers: dict[str, Provider] | None,
        cancel: threading.Event | None,
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.s = services
        self.task = task.strip()
        self.spec = spec
        self.settings = settings
        self.ladder = ladder or load_ladder_config()
        self.providers = dict(providers or {})  # filled lazily; the caller's dict stays as given
        self.cancel = cancel or threading.Event()
        self.on_event = on_event
        self.budget = Budget(
            self.ladder,
            services.ledger,
            request_usd=budget_usd if budget_usd is not None else settings.request_budget_usd,
            daily_usd=settings.daily_budget_usd,
        )
        self.max_tier = max_tier
        self.skipped: list[dict[str, str]] = []
        self.reuse_rejected: list[str] = []
        self.transcript_id = ""
        self.start_tier: str | None = None
        self.crashed: set[str] = set()  # tiers whose model process crashed during this ask

    @property
    def spent(self) -> float:
        return self.budget.spent

    def emit(self, event: Event) -> None:
        self.s.events.publish(event)
        if self.on_event:
            self.on_event(event)

    # -- the ladder ----------------------------------------------------------------------

    def provider(self, tier: TierConfig) -> Provider:
        if tier.name not in self.providers:
            self.providers[tier.name] = provider_for_tier(tier)
        return self.providers[tier.name]

    def allowed_tiers(self) -> list[TierConfig]:
        tiers = list(self.ladder.tiers)
        if self.max_tier:
            names = [t.name for t in tiers]
            if self.max_tier not in names:
                raise BadInput(f"unknown tier '{self.max_tier}' (tiers: {', '.join(names)})")
            tiers = tiers[: names.index(self.max_tier) + 1]
        if self.settings.pressure is not None:
            from dse_tui.engine.pressure.levels import allowed_tiers

            latency = self.settings.tier_latency_ms
            allowed, refusals = allowed_tiers(
                self.settings.pressure, [(t.name, t.provider, latency.get(t.name)) for t in tiers]
            )
            for tier in tiers:
                if tier.name not in allowed:
                    why = next((r for r in refusals if r.startswith(tier.name)), f"{tier.name}: refused by pressure")
                    self.skip(tier, why)
            tiers = [t for t in tiers if t.name in allowed]
        return tiers

    def usable_tiers(self) -> list[TierConfig]:
        usable = []
        for tier in self.allowed_tiers():
            try:
                ok, reason = self.provider(tier).available()
            except (TypeError, ValueError) as exc:  # a provider refusing its configuration
                ok, reason = False, f"bad configuration: {exc}"
            if ok:
                usable.append(tier)
            else:
                self.skip(tier, f"unavailable: {reason}")
        return usable

    def skip(self, tier: TierConfig, reason: str) -> None:
        if not any(s["tier"] == tier.name and s["reason"] == reason for s in self.skipped):
            self.skipped.append({"tier": tier.name, "reason": reason})
            self.emit(TierSkipped(self.transcript_id, tier.name, reason))

    def affordable(self, tier: TierConfig, messages_chars: int) -> bool:
        refusal = self.budget.refusal(tier, messages_chars)
        if refusal:
            self.skip(tier, refusal)
        return refusal is None

    def examples(self, vector: Any) -> list[Example]:
        if self.settings.examples <= 0:
            return []
        excluded = self.settings.exclude_examples
        matches = self.s.finder.search(vector, self.settings.examples + len(excluded), text=self.task, min_merit=0.5)
        # only artifacts that fit the task (the find floor): an unrelated example misleads a small
        # model (measured: SmolLM2 wrote add(a, b) at once without examples, and failed four times
        # when shown moving_average and add_business_days)
        floor = self.s.finder.settings().find_floor
        return [
            Example(m.artifact.description, m.artifact.content)
            for m in matches
            if m.artifact.name not in excluded and m.similarity >= floor
        ][: self.settings.examples]

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> AskResult:
        if not self.task:
            raise BadInput("the task is empty")
        check_text(self.task, "the task")
        if len(self.task) > MAX_TASK_CHARS:
            raise BadInput(f"the task is {len(self.task)} characters; the limit is {MAX_TASK_CHARS}")
        self.allowed_tiers()  # an unknown --max-tier is bad input even when reuse would answer
        self.transcript_id = self.s.transcripts.start(self.task, self.spec.source)
        try:
            return self._run()
        except (KeyboardInterrupt, shutdown.Interrupted):
            reason = shutdown.requested() or shutdown.signal_text(signal.SIGINT)
            self.s.transcripts.finish(self.transcript_id, "interrupted", reason=reason)
            raise
        except BaseException as exc:
            if shutdown.requested():
                self.s.transcripts.finish(self.transcript_id, "interrupted", reason=shutdown.requested())
            else:
                self.s.transcripts.finish(self.transcript_id, "failed", reason=f"{type(exc).__name__}: {exc}")
            raise

    def _finish(
        self,
        outcome: str,
        artifact: Artifact | None,
        tier: str | None,
        attempts: int,
        reason: str | None,
        prediction,
        reuse: ReuseOutcome | None = None,
    ) -> AskResult:
        self.s.transcripts.finish(
            self.transcript_id,
            outcome,
            artifact_id=artifact.id if artifact else None,
            reused=outcome == "reused",
            reason=reason,
        )
        self.emit(AskFinished(self.transcript_id, outcome, artifact.id if artifact else None, reason))
        return AskResult(
            self.transcript_id,
            outcome,
            artifact,
            outcome == "reused",
            tier,
            attempts,
            self.spent,
            reason,
            prediction,
            self.start_tier,
            self.skipped,
            self.reuse_rejected,
            *self._meaning(artifact, reuse),
        )

    def _meaning(self, artifact: Artifact | None, reuse: ReuseOutcome | None) -> tuple:
        """(results, confirmation, strength) of what is returned."""
        if reuse is not None and reuse.results is not None:
            return reuse.results.to_dict(), reuse.confirmation, reuse.strength
        if artifact is None:
            return None, None, None
        return artifact.test_results, verdict(artifact.strength, self.settings.strong_strength), artifact.strength

    def _run(self) -> AskResult:
        reuse = self.s.reuser.try_reuse(self.task, self.spec, self.settings.reuse())
        self.reuse_rejected = reuse.rejected
        if reuse.artifact is not None:
            return self._finish("reused", reuse.artifact, None, 0, None, None, reuse)
        usable = self.usable_tiers()
        if not usable:
            return self._finish("failed", None, None, 0, "no model tier is available", None)
        vector = self.s.embed(query_text(f"{self.task}\n{self.spec.description}"))  # once: prediction and examples
        prediction = predict_start_tier(lambda v, k: self.s.finder.search(v, k), vector, [t.name for t in usable])
        start = next((i for i, t in enumerate(usable) if t.name == prediction.get("tier")), 0)
        self.start_tier = usable[start].name
        self.s.transcripts.set_start(self.transcript_id, self.start_tier, prediction)
        self.emit(StartTierChosen(self.transcript_id, self.start_tier, prediction))
        examples = self.examples(vector)
        previous: PreviousAttempt | None = None
        position = start
        for n in range(1, self.ladder.max_attempts + 1):
            if shutdown.requested():
                return self._finish("interrupted", None, None, n - 1, shutdown.requested(), prediction)
            if self.cancel.is_set():
                return self._finish("cancelled", None, None, n - 1, "cancelled by the user", prediction)
            messages = build_messages(self.task, self.spec, examples, previous)
            chars = sum(len(m.content) for m in messages)
            found = self.affordable_position(usable, position, chars)
            if found is None:
                why = (
                    "no tier left: the others crashed or are over budget"
                    if self.crashed
                    else "budget exhausted: no affordable tier left"
                )
                return self._finish("failed", None, None, n - 1, why, prediction)
            position = found
            tier = usable[position]
            temperature = self.ladder.temperature_for(tier, n - 1)
            self.emit(AttemptStarted(self.transcript_id, n, tier.name, tier.model, temperature))
            record, artifact = self.attempt(n, tier, temperature, messages, prediction)
            self.emit(
                AttemptFinished(
                    self.transcript_id,
                    n,
                    tier.name,
                    record.passed,
                    record.error or "",
                    record.cost_usd,
                    record.duration_ms,
                )
            )
            if artifact is not None:
                return self._finish("generated", artifact, tier.name, n, None, prediction)
            if shutdown.requested():
                return self._finish("interrupted", None, None, n, shutdown.requested(), prediction)
            if self.cancel.is_set():
                return self._finish("cancelled", None, None, n, "cancelled by the user", prediction)
            if record.reply is not None:
                # A failed model call (timeout, HTTP error) has nothing to learn from: the next
                # attempt still sees the last real code and its failures.
                previous = PreviousAttempt(record.code, record.error or "failed")
            # Escalate one rung per failure; on the top allowed rung, retry warmer.
            position = min(position + 1, len(usable) - 1)
        return self._finish(
            "failed",
            None,
            None,
            self.ladder.max_attempts,
            f"no attempt passed the spec in {self.ladder.max_attempts} attempts",
            prediction,
        )

    def affordable_position(self, usable: list[TierConfig], position: int, chars: int) -> int | None:
        """The rung to use: `position` if the budgets allow it, else the next affordable one up,
        else the highest affordable one below (a free rung retries rather than giving up)."""
        for i in [*range(position, len(usable)), *range(position - 1, -1, -1)]:
            if usable[i].name not in self.crashed and self.affordable(usable[i], chars):
                return i
        return None

    def attempt(
        self, n: int, tier: TierConfig, temperature: float | None, messages, prediction
    ) -> tuple[AttemptRecord, Artifact | None]:
        record = AttemptRecord(n, tier.name, tier.provider, tier.model, temperature, [m.__dict__ for m in messages])
        started = time.perf_counter()
        try:
            completion = complete_tier(self.provider(tier), tier, messages, temperature=temperature, cancel=self.cancel)
        except ProviderError as exc:
            record.error = f"the model call failed: {exc}"
            record.duration_ms = (time.perf_counter() - started) * 1000
            self.s.transcripts.add_attempt(self.transcript_id, record)
            if exc.kind == "crashed" and not shutdown.requested():  # it would crash again: go on without it
                self.crashed.add(tier.name)
                self.skip(tier, f"crashed: {exc.message}")
            return record, None
        record.reply = completion.text
        record.model = completion.model or tier.model  # what answered, as the provider names it
        record.input_tokens, record.output_tokens, record.cost_usd = (
            completion.input_tokens,
            completion.output_tokens,
            completion.cost_usd,
        )
        record.duration_ms = (time.perf_counter() - started) * 1000
        # The call is paid for: the attempt and its charge are committed before anything else can go wrong.
        self.budget.charge(record.cost_usd)
        with self.s.unit_of_work():
            self.s.transcripts.add_attempt(self.transcript_id, record)
            self.s.ledger.charge(
                self.transcript_id,
                tier.name,
                tier.provider,
                record.model,
                record.input_tokens,
                record.output_tokens,
                record.cost_usd,
            )
        try:
            artifact = self.check(record, tier, prediction)
        except BaseException as exc:
            record.error = record.error or f"interrupted while testing: {type(exc).__name__}: {exc}"
            raise
        finally:
            record.duration_ms = (time.perf_counter() - started) * 1000
            self.s.transcripts.update_attempt(self.transcript_id, record)
        return record, artifact

    def check(self, record: AttemptRecord, tier: TierConfig, prediction) -> Artifact | None:
        """Extract the reply's code, test it in the sandbox, store it if it passes."""
        artifact = None
        try:
            record.code = extract_code(record.reply, self.spec.function)
            results = self.s.catalog.test(record.code, self.spec)
            record.test_results = results.to_dict()
            record.passed = results.all_passed
            if results.all_passed:
                lineage = [(LineageKind.GENERATED_FOR, self.reuse_rejected[0])] if self.reuse_rejected else []
                artifact = self.s.catalog.persist(
                    record.code,
                    self.spec,
                    results,
                    name=self.s.catalog.unique_name(self.spec.name or self.spec.function, self.task),
                    lineage=lineage,
                    provenance={
                        "source": "generated",
                        "tier": tier.name,
                        "provider": tier.provider,
                        "model": record.model,
                        "attempt": record.n,
                        "temperature": record.temperature,
                        "input_tokens": record.input_tokens,
                        "output_tokens": record.output_tokens,
                        "cost_usd": record.cost_usd,
                        "transcript_id": self.transcript_id,
                        "task": self.task,
                        "predicted_tier": (prediction or {}).get("tier"),
                    },
                )
            else:
                record.error = results.failure_summary(include_held_out=False)  # it becomes the next prompt
        except (ExtractionError, BadInput) as exc:
            record.error = str(exc)
        return artifact
