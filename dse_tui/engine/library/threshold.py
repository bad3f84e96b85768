"""The adaptive quality threshold (paper §4.8): users accept or reject an artifact's output,
and its threshold follows. Many acceptances of outputs well above the threshold lower it
(to the mean accepted quality minus one step); too many rejections raise it by one step.
Reuse serves an artifact only while its quality is at or above its threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dse_tui.engine import presets
from dse_tui.store.feedback import FeedbackRepository
from dse_tui.store.records import Artifact


@dataclass(frozen=True)
class QualitySettings:
    initial: float = 0.75
    min_feedback: int = 5
    window: int = 50
    lower_when_accepted: float = 0.95
    raise_when_below: float = 0.85
    step: float = 0.05

    @classmethod
    def load(cls) -> QualitySettings:
        return presets.living_settings(cls, "quality")


class AdaptiveThreshold:
    def __init__(self, feedback: FeedbackRepository, settings: QualitySettings | None = None) -> None:
        self.feedback = feedback
        self.settings = settings or QualitySettings.load()

    def current(self, artifact: Artifact) -> float:
        moved = self.feedback.threshold(artifact.id)
        return self.settings.initial if moved is None else moved

    def judge(self, artifact: Artifact, accepted: bool) -> dict[str, Any]:
        """Record the verdict; move the threshold if the paper's rule says so. Returns what happened."""
        s = self.settings
        self.feedback.add(artifact.id, accepted, artifact.quality_score)
        verdicts = self.feedback.recent(artifact.id, s.window)
        old = self.current(artifact)
        out: dict[str, Any] = {"artifact_id": artifact.id, "accepted": accepted, "threshold": old, "moved": False}
        out["verdicts"] = len(verdicts)
        if len(verdicts) < s.min_feedback:
            out["why"] = f"{len(verdicts)} of {s.min_feedback} verdicts needed before the threshold moves"
            return out
        rate = sum(1 for a, _ in verdicts if a) / len(verdicts)
        mean_quality = sum(q for _, q in verdicts) / len(verdicts)
        out["acceptance"] = round(rate, 4)
        new, cause = old, ""
        if rate > s.lower_when_accepted and mean_quality > old + 0.1:
            new = round(mean_quality - s.step, 4)
            cause = f"acceptance {rate:.0%} > {s.lower_when_accepted:.0%} with mean quality {mean_quality:.2f} > threshold + 0.10"
        elif rate < s.raise_when_below:
            new = round(min(1.0, old + s.step), 4)
            cause = f"acceptance {rate:.0%} < {s.raise_when_below:.0%}: outputs are rejected too often"
        if new != old:
            self.feedback.move(artifact.id, old, new, cause)
            out.update(threshold=new, moved=True, old=old, why=cause)
        else:
            out["why"] = f"acceptance {rate:.0%}: the threshold holds"
        return out
