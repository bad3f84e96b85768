"""One resumable job runner for long work over the whole store (re-verification,
re-embedding, metric roll-ups): jobs are persisted, progress is committed after every step
and published as events, and a job whose process died is taken over where it stopped.
Later mechanisms add a kind here instead of a loop of their own."""

from .kinds import ConfirmKind, ReembedKind, RollupKind, VerifyKind
from .runner import JobKind, JobRunner, Step

__all__ = ["ConfirmKind", "JobKind", "JobRunner", "ReembedKind", "RollupKind", "Step", "VerifyKind"]
