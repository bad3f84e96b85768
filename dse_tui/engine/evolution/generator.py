"""Where evolution's candidates come from: a tier of the model ladder, chosen by strategy
and allowed by pressure, with the evolution's budget and the daily budget enforced and
every paid call charged to the ledger. Tests and benches pass their own `Generator`."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from dse_tui.engine.generation.budgets import Budget
from dse_tui.engine.generation.providers import (
    Ladder,
    Message,
    Provider,
    ProviderError,
    TierConfig,
    complete_tier,
    provider_for_tier,
)
from dse_tui.store.ledger import Ledger


@dataclass
class Generated:
    text: str
    cost_usd: float
    tier: str


class GenerationRefused(Exception):
    """No tier may be asked (none available, allowed or affordable)."""


class Generator(Protocol):
    def generate(
        self, messages: list[Message], *, attempt: int, stronger: bool, cancel: threading.Event, budget_usd: float
    ) -> Generated:
        """One candidate; must not make a call that may cost more than `budget_usd`."""
        ...


class LadderGenerator:
    """Attempt i asks the i-th usable tier from the start rung (the one that made the
    artifact, or the cheapest); `stronger` (a quality drift) starts one rung above it."""

    def __init__(
        self,
        ladder: Ladder,
        ledger: Ledger,
        *,
        start_tier: str | None = None,
        allowed_providers: set[str] | None = None,
        providers: dict[str, Provider] | None = None,
    ) -> None:
        self.ladder = ladder
        self.ledger = ledger
        self.budget = Budget(ladder, ledger, request_usd=0.0)  # set per call from the evolution's budget
        self.start_tier = start_tier
        self.allowed = allowed_providers
        self.providers = dict(providers or {})
        self.skipped: list[str] = []
        self._usable: list[TierConfig] | None = None

    def _provider(self, tier: TierConfig) -> Provider:
        if tier.name not in self.providers:
            self.providers[tier.name] = provider_for_tier(tier)
        return self.providers[tier.name]

    def usable(self) -> list[TierConfig]:
        """The tiers that may be asked, found once per evolution (an HTTP tier's check is a
        request; every attempt would repeat it)."""
        if self._usable is not None:
            return self._usable
        out = []
        for tier in self.ladder.tiers:
            if self.allowed is not None and tier.provider not in self.allowed:
                self.skipped.append(f"{tier.name}: not allowed under the current pressure")
                continue
            try:
                ok, reason = self._provider(tier).available()
            except (TypeError, ValueError) as exc:
                ok, reason = False, str(exc)
            if ok:
                out.append(tier)
            else:
                self.skipped.append(f"{tier.name}: {reason}")
        self._usable = out
        return out

    def generate(
        self, messages: list[Message], *, attempt: int, stronger: bool, cancel: threading.Event, budget_usd: float
    ) -> Generated:
        self.budget.request_usd = self.budget.spent + max(0.0, budget_usd)
        tiers = self.usable()
        if not tiers:
            raise GenerationRefused("no tier is usable: " + "; ".join(self.skipped[-4:]))
        names = [t.name for t in tiers]
        start = names.index(self.start_tier) if self.start_tier in names else 0
        position = min(start + int(stronger) + attempt, len(tiers) - 1)
        chars = sum(len(m.content) for m in messages)
        for tier in tiers[position:]:
            refusal = self.budget.refusal(tier, chars)
            if refusal:
                self.skipped.append(f"{tier.name}: {refusal}")
                continue
            try:
                done = complete_tier(self._provider(tier), tier, messages, cancel=cancel)
            except ProviderError as exc:
                self.skipped.append(f"{tier.name}: {exc.kind}: {exc.message}")
                continue
            self.budget.charge(done.cost_usd)
            self.ledger.charge(
                None, tier.name, done.provider, done.model, done.input_tokens, done.output_tokens, done.cost_usd
            )
            return Generated(done.text, done.cost_usd, tier.name)
        raise GenerationRefused("every tier refused or failed: " + "; ".join(self.skipped[-4:]))
