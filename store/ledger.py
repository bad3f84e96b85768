"""The spend ledger: what every paid model call cost, when, on which tier.

Per-request and daily budgets are enforced from it; a call is charged the moment the
model answers, before its code is tested, so nothing that ends the ask can lose spend.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .db import Database


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class Ledger:
    def __init__(self, database: Database) -> None:
        self.db = database

    def charge(
        self,
        transcript_id: str | None,
        tier: str,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float,
    ) -> None:
        if not (input_tokens or output_tokens or cost_usd):
            return
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO spend (at, transcript_id, tier, provider, model, input_tokens, output_tokens, cost_usd)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_now(), transcript_id, tier, provider, model, input_tokens, output_tokens, cost_usd),
            )

    def spent_since(self, since: datetime) -> float:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM spend WHERE at >= ?",
                (since.isoformat(timespec="microseconds"),),
            ).fetchone()
        return float(row[0])

    def spent_today(self) -> float:
        """Since the last local midnight: the day the user lives in, not UTC's."""
        midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        return self.spent_since(midnight.astimezone(timezone.utc))

    def spent_last(self, hours: float) -> float:
        return self.spent_since(datetime.now(timezone.utc) - timedelta(hours=hours))
