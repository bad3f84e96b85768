"""Plain events the engine publishes; screens turn them into Textual messages.

Every event the engine emits is defined here, so a front end dispatches on these types
(isinstance) and finds everything it shows in the event itself, never behind it in the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class ArtifactStored(Event):
    artifact_id: str
    name: str
    quality_score: float


@dataclass(frozen=True)
class ArtifactRan(Event):
    artifact_id: str
    success: bool
    execution_time_ms: float


@dataclass(frozen=True)
class CheckFinished(Event):
    name: str
    passed: bool
    message: str | None


@dataclass(frozen=True)
class Progress(Event):
    task: str
    done: int
    total: int
    detail: str = ""


@dataclass(frozen=True)
class ArtifactStateChanged(Event):
    artifact_id: str
    name: str
    state: str  # unverified | verified | quarantined
    reason: str | None


@dataclass(frozen=True)
class JobProgress(Event):
    job_id: int
    kind: str
    done: int
    total: int | None
    detail: str = ""


@dataclass(frozen=True)
class JobFinished(Event):
    job_id: int
    kind: str
    state: str  # done | failed | cancelled | queued (handed back when DSE stops)
    error: str | None = None


# -- the ask path ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartTierChosen(Event):
    """Before the first attempt: where the climb starts, and the solved tasks that voted for it."""

    transcript_id: str
    start_tier: str
    prediction: dict[str, Any] | None


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


@dataclass(frozen=True)
class ConfirmationRecorded(Event):
    """How strong a request's spec proved against the artifact reuse served for it."""

    artifact_id: str
    spec_hash: str
    verdict: str  # strong | weak
    strength: float | None


@dataclass(frozen=True)
class Notice(Event):
    text: str
    severity: str = "information"
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Event], None]


@dataclass(frozen=True)
class DriftRaised(Event):
    event_id: int
    artifact_id: str
    name: str
    type: str
    severity: float
    action: str  # evolve | schedule | log | explained (a machine-wide slowdown: nobody blamed)


@dataclass(frozen=True)
class EvolutionFinished(Event):
    evolution_id: int
    artifact_id: str
    status: str  # promoted | rejected | failed | timeout
    reason: str
    candidate_id: str | None = None


class EventBus:
    """Synchronous fan-out; listeners must be quick and thread-safe (e.g. post a message)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
