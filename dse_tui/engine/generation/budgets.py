"""Budgets: what one request may still spend, and what today may (from the ledger)."""

from __future__ import annotations

from dataclasses import dataclass

from dse_tui.store.ledger import Ledger

from .providers import Ladder, TierConfig


@dataclass
class Budget:
    ladder: Ladder
    ledger: Ledger
    request_usd: float | None = None  # None: only the daily limit applies
    daily_usd: float | None = None  # None: the ladder's (models.yaml daily_budget_usd)
    spent: float = 0.0  # by this request so far

    def estimate(self, tier: TierConfig, prompt_chars: int) -> float:
        """Worst case for one call: the prompt (~4 characters a token) and a full-length reply."""
        return ((prompt_chars / 4) * tier.price_in_per_mtok + tier.max_tokens * tier.price_out_per_mtok) / 1_000_000

    def refusal(self, tier: TierConfig, prompt_chars: int) -> str | None:
        """Why a call on `tier` may not be made now, or None if it may."""
        if not tier.paid:
            return None
        estimate = self.estimate(tier, prompt_chars)
        if self.request_usd is not None and self.spent + estimate > self.request_usd:
            return f"request budget: ${self.request_usd - self.spent:.4f} left, a call may cost ${estimate:.4f}"
        daily = self.daily_usd if self.daily_usd is not None else self.ladder.daily_budget_usd
        left = daily - self.ledger.spent_today()
        if estimate > left:
            return f"daily budget: ${max(left, 0):.4f} left, a call may cost ${estimate:.4f}"
        return None

    def charge(self, cost_usd: float) -> None:
        self.spent += cost_usd
