"""A provider that answers from a script: the ladder's logic is tested with it.

Replies come from a list (str, or a ProviderError to raise) or from a
callable `(messages, temperature, model) -> str` that may raise
ProviderError. Every call is recorded so tests can assert on prompts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .base import Completion, Message, Provider, ProviderError

Reply = str | ProviderError
Script = Iterable[Reply] | Callable[[list[Message], float | None, str], str]


@dataclass
class ScriptedCall:
    messages: list[Message]
    temperature: float | None
    model: str
    max_tokens: int
    timeout_s: float


def estimate_tokens(text: str) -> int:
    # ~4 characters per token; never 0 so priced tiers always cost something
    return max(1, len(text) // 4)


class ScriptedProvider(Provider):
    def __init__(
        self, replies: Script = (), *, name: str = "scripted", available: tuple[bool, str] = (True, "scripted")
    ):
        self.name = name
        self._fn = replies if callable(replies) else None
        self._queue = [] if callable(replies) else list(replies)
        self._available = available
        self._lock = threading.Lock()
        self.calls: list[ScriptedCall] = []

    def available(self) -> tuple[bool, str]:
        return self._available

    def complete(self, messages, *, model, temperature, max_tokens, timeout_s, cancel=None) -> Completion:
        started = time.perf_counter()
        with self._lock:
            self.calls.append(ScriptedCall(list(messages), temperature, model, max_tokens, timeout_s))
            if self._fn is not None:
                reply: Reply = self._fn(list(messages), temperature, model)
            elif self._queue:
                reply = self._queue.pop(0)
            else:
                raise self.error("unavailable", f"script exhausted after {len(self.calls) - 1} replies")
        if isinstance(reply, ProviderError):
            raise reply
        if cancel is not None and cancel.is_set():
            raise self.error("cancelled", "cancelled while the model was writing")
        prompt = "\n".join(m.content for m in messages)
        return Completion(
            text=reply,
            input_tokens=estimate_tokens(prompt),
            output_tokens=estimate_tokens(reply),
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - started) * 1000,
            model=model,
            provider=self.name,
        )
