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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from dse_tui.engine.generation.codeextract import ExtractionError, extract_code
from dse_tui.engine import shutdown
from dse_tui.engine.errors import BadInput
from dse_tui.engine.events import Event
from dse_tui.engine.limits import MAX_QUERY_CHARS, MAX_TASK_CHARS
from dse_tui.engine.validation import check_text
from dse_tui.engine.generation.prompting import Example, PreviousAttempt, build_messages
from dse_tui.engine.generation.providers import Ladder, Provider, ProviderError, TierConfig, complete_tier, load_ladder_config, provider_for_tier
from dse_tui.engine.specs.spec import Spec
from dse_tui.engine.specs.runner import run_spec
from dse_tui.engine.generation.tierlearning import predict_start_tier
from dse_tui.store.generation import AttemptRecord
from dse_tui.store.records import Artifact, MetricPoint, utcnow

if TYPE_CHECKING:
    from dse_tui.engine.facade import Engine, Match


@dataclass
class AskSettings:
    reuse_min_similarity: float = 0.6  # a hit must still pass the spec, so the bar can be generous
    reuse_min_quality: float = 0.5
    reuse_candidates: int = 3
    examples: int = 2
    daily_budget_usd: float | None = None  # None: the ladder's (models.yaml daily_budget_usd)
    request_budget_usd: float | None = None  # None: only the daily limit applies
    exclude_examples: frozenset[str] = frozenset()  # artifact names never shown as examples (benchmarks)


@dataclass(frozen=True)
class AttemptStarted(Event):
    transcript_id: str
    n: int
    tier: str
    model: str
    temperature: float | None


@dataclass(frozen=True)
class AttemptFinished(Event):
    transcript_id: str
    n: int
    tier: str
    passed: bool
    failures: str
    cost_usd: float
    duration_ms: float


@dataclass(frozen=True)
class TierSkipped(Event):
    transcript_id: str
    tier: str
    reason: str


@dataclass(frozen=True)
class AskFinished(Event):
    transcript_id: str
    outcome: str
    artifact_id: str | None
    reason: str | None


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
        }


def _query(text: str) -> str:
    """Search text within the engine's query limit; the embedder reads only the first few
    hundred tokens anyway, so a longer task loses nothing by the cut."""
    return text[:MAX_QUERY_CHARS]


def _alias(code: str, stored_function: str, wanted: str) -> str:
    """Let a stored artifact answer a spec that names its function differently."""
    return code if stored_function == wanted else f"{code.rstrip()}\n\n{wanted} = {stored_function}\n"


class Asker:
    """One ask; holds the per-request state so the loop reads plainly."""

    def __init__(
        self,
        engine: Engine,
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
        self.engine = engine
        self.task = task.strip()
        self.spec = spec
        self.settings = settings
        self.ladder = ladder or load_ladder_config()
        self.providers = dict(providers or {})  # filled lazily; the caller's dict stays as given
        self.cancel = cancel or threading.Event()
        self.on_event = on_event
        self.budget = budget_usd if budget_usd is not None else settings.request_budget_usd
        self.max_tier = max_tier
        self.spent = 0.0
        self.skipped: list[dict[str, str]] = []
        self.reuse_rejected: list[str] = []
        self.log = engine.generation
        self.transcript_id = ""
        self.start_tier: str | None = None
        self.crashed: set[str] = set()  # tiers whose model process crashed during this ask

    def emit(self, event: Event) -> None:
        self.engine.events.publish(event)
        if self.on_event:
            self.on_event(event)

    # -- reuse ---------------------------------------------------------------------------

    def try_reuse(self) -> Artifact | None:
        # The spec's description and the task's wording are searched apart: a long task (code,
        # a paragraph) dilutes the description. Any extra candidate costs one sandboxed spec run.
        best: dict[str, Match] = {}
        for query in dict.fromkeys([_query(self.spec.description), _query(self.task)]):
            for match in self.engine.find_similar(query, min_quality=self.settings.reuse_min_quality, limit=self.settings.reuse_candidates):
                known = best.get(match.artifact.id)
                if known is None or match.score > known.score:
                    best[match.artifact.id] = match
        matches = sorted(best.values(), key=lambda m: m.score, reverse=True)[: self.settings.reuse_candidates]
        for match in matches:
            if match.similarity < self.settings.reuse_min_similarity:
                continue
            artifact = match.artifact
            started = time.perf_counter()
            results = run_spec(_alias(artifact.content, artifact.function, self.spec.function), self.spec, self.engine.sandbox, coverage=False)
            if results.all_passed:
                self.engine.store.record_run(
                    MetricPoint(artifact.id, utcnow(), (time.perf_counter() - started) * 1000, results.cpu_ms, results.peak_memory_mb, True, None, "reuse")
                )
                return self.engine.store.get(artifact.id) or artifact
            self.reuse_rejected.append(artifact.id)
        return None

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
        if not tier.paid:
            return True
        # Worst case for this call: the prompt (~4 chars a token) plus a full-length reply.
        estimate = ((messages_chars / 4) * tier.price_in_per_mtok + tier.max_tokens * tier.price_out_per_mtok) / 1_000_000
        if self.budget is not None and self.spent + estimate > self.budget:
            self.skip(tier, f"request budget: ${self.budget - self.spent:.4f} left, a call may cost ${estimate:.4f}")
            return False
        daily = self.settings.daily_budget_usd if self.settings.daily_budget_usd is not None else self.ladder.daily_budget_usd
        daily_left = daily - self.log.spent_today()
        if estimate > daily_left:
            self.skip(tier, f"daily budget: ${max(daily_left, 0):.4f} left, a call may cost ${estimate:.4f}")
            return False
        return True

    def examples(self) -> list[Example]:
        if self.settings.examples <= 0:
            return []
        excluded = self.settings.exclude_examples
        matches = self.engine.find_similar(
            _query(f"{self.task}\n{self.spec.description}"), min_quality=0.5, limit=self.settings.examples + len(excluded)
        )
        return [Example(m.artifact.description, m.artifact.content) for m in matches if m.artifact.name not in excluded][: self.settings.examples]

    def run(self) -> AskResult:
        if not self.task:
            raise BadInput("the task is empty")
        check_text(self.task, "the task")
        if len(self.task) > MAX_TASK_CHARS:
            raise BadInput(f"the task is {len(self.task)} characters; the limit is {MAX_TASK_CHARS}")
        self.allowed_tiers()  # an unknown --max-tier is bad input even when reuse would answer
        self.transcript_id = self.log.start(self.task, self.spec.source)
        try:
            return self._run()
        except (KeyboardInterrupt, shutdown.Interrupted):
            reason = shutdown.requested() or shutdown.signal_text(signal.SIGINT)
            self.log.finish(self.transcript_id, "interrupted", reason=reason)
            raise
        except BaseException as exc:
            if shutdown.requested():
                self.log.finish(self.transcript_id, "interrupted", reason=shutdown.requested())
            else:
                self.log.finish(self.transcript_id, "failed", reason=f"{type(exc).__name__}: {exc}")
            raise

    def _finish(self, outcome: str, artifact: Artifact | None, tier: str | None, attempts: int, reason: str | None, prediction) -> AskResult:
        self.log.finish(self.transcript_id, outcome, artifact_id=artifact.id if artifact else None, reused=outcome == "reused", reason=reason)
        self.emit(AskFinished(self.transcript_id, outcome, artifact.id if artifact else None, reason))
        return AskResult(
            self.transcript_id, outcome, artifact, outcome == "reused", tier, attempts, self.spent, reason, prediction,
            self.start_tier, self.skipped, self.reuse_rejected,
        )

    def _run(self) -> AskResult:
        reused = self.try_reuse()
        if reused is not None:
            return self._finish("reused", reused, None, 0, None, None)
        usable = self.usable_tiers()
        if not usable:
            return self._finish("failed", None, None, 0, "no model tier is available", None)
        prediction = predict_start_tier(self.engine, f"{self.task}\n{self.spec.description}", [t.name for t in usable])
        start = next((i for i, t in enumerate(usable) if t.name == prediction.get("tier")), 0)
        self.start_tier = usable[start].name
        self.log.set_start(self.transcript_id, self.start_tier, prediction)
        examples = self.examples()
        previous: PreviousAttempt | None = None
        position = start
        for n in range(1, self.ladder.max_attempts + 1):
            if shutdown.requested():
                return self._finish("interrupted", None, None, n - 1, shutdown.requested(), prediction)
            if self.cancel.is_set():
                return self._finish("cancelled", None, None, n - 1, "cancelled by the user", prediction)
            messages = build_messages(self.task, self.spec, examples, previous)
            chars = sum(len(m.content) for m in messages)
            position = self.affordable_position(usable, position, chars)
            if position is None:
                why = ("no tier left: the others crashed or are over budget" if self.crashed
                       else "budget exhausted: no affordable tier left")
                return self._finish("failed", None, None, n - 1, why, prediction)
            tier = usable[position]
            temperature = self.ladder.temperature_for(tier, n - 1)
            self.emit(AttemptStarted(self.transcript_id, n, tier.name, tier.model, temperature))
            record, artifact = self.attempt(n, tier, temperature, messages, prediction)
            self.emit(AttemptFinished(self.transcript_id, n, tier.name, record.passed, record.error or "", record.cost_usd, record.duration_ms))
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
        return self._finish("failed", None, None, self.ladder.max_attempts, f"no attempt passed the spec in {self.ladder.max_attempts} attempts", prediction)

    def affordable_position(self, usable: list[TierConfig], position: int, chars: int) -> int | None:
        """The rung to use: `position` if the budgets allow it, else the next affordable one up,
        else the highest affordable one below (a free rung retries rather than giving up)."""
        for i in [*range(position, len(usable)), *range(position - 1, -1, -1)]:
            if usable[i].name not in self.crashed and self.affordable(usable[i], chars):
                return i
        return None

    def attempt(self, n: int, tier: TierConfig, temperature: float | None, messages, prediction) -> tuple[AttemptRecord, Artifact | None]:
        record = AttemptRecord(n, tier.name, tier.provider, tier.model, temperature, [m.__dict__ for m in messages])
        started = time.perf_counter()
        try:
            completion = complete_tier(self.provider(tier), tier, messages, temperature=temperature, cancel=self.cancel)
        except ProviderError as exc:
            record.error = f"the model call failed: {exc}"
            record.duration_ms = (time.perf_counter() - started) * 1000
            self.log.add_attempt(self.transcript_id, record)
            if exc.kind == "crashed" and not shutdown.requested():  # it would crash again: go on without it
                self.crashed.add(tier.name)
                self.skip(tier, f"crashed: {exc.message}")
            return record, None
        record.reply = completion.text
        record.model = completion.model or tier.model  # what answered, as the provider names it
        record.input_tokens, record.output_tokens, record.cost_usd = completion.input_tokens, completion.output_tokens, completion.cost_usd
        record.duration_ms = (time.perf_counter() - started) * 1000
        # The call is paid for: into the ledger before anything else can go wrong.
        self.spent += record.cost_usd
        self.log.add_attempt(self.transcript_id, record)
        try:
            artifact = self.check(record, tier, prediction)
        except BaseException as exc:
            record.error = record.error or f"interrupted while testing: {type(exc).__name__}: {exc}"
            raise
        finally:
            record.duration_ms = (time.perf_counter() - started) * 1000
            self.log.update_attempt(self.transcript_id, record)
        return record, artifact

    def check(self, record: AttemptRecord, tier: TierConfig, prediction) -> Artifact | None:
        """Extract the reply's code, test it in the sandbox, store it if it passes."""
        artifact = None
        try:
            record.code = extract_code(record.reply, self.spec.function)
            results = self.engine.test(record.code, self.spec)
            record.test_results = results.to_dict()
            record.passed = results.all_passed
            if results.all_passed:
                artifact = self.engine.persist(
                    record.code,
                    self.spec,
                    results,
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
                record.error = results.failure_summary()
        except (ExtractionError, BadInput) as exc:
            record.error = str(exc)
        return artifact
