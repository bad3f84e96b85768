"""Provider contract shared by every rung of the generation ladder.

Nothing here imports an LLM SDK: the engine must stay cheap to import
(anthropic alone costs ~1.9 s), so each provider imports its SDK inside its
own methods.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGE = 240
ERROR_KINDS = frozenset({"http", "timeout", "malformed", "unavailable", "unknown_model", "cancelled", "crashed"})


@dataclass
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    model: str
    provider: str


class ProviderError(Exception):
    """The one failure type the ladder sees; `.kind` says how to react.

    kinds: http (4xx/5xx), timeout, malformed (body we cannot read),
    unavailable (no server / key / model file), unknown_model, cancelled
    (the caller's cancel event was set while the model was writing), crashed
    (the process running the model died: a native crash, say which signal).
    """

    def __init__(self, kind: str, message: str, *, provider: str = "", status: int | None = None):
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown ProviderError kind {kind!r}")
        self.kind = kind
        self.provider = provider
        self.status = status
        # one short line: UIs and logs show it as is (bodies can be whole HTML pages)
        line = " ".join(str(message).split())
        self.message = line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"
        super().__init__(f"{provider or 'provider'}: {kind}: {self.message}")


class Provider(ABC):
    name: str = "provider"
    # True when complete() itself stops soon after `cancel` is set (the embedded model kills
    # its worker); otherwise a free call is abandoned to its thread (see complete_tier).
    stops_on_cancel: bool = False

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """(ok, reason). Cheap: at most one short local request."""

    def probe(self) -> tuple[bool, str]:
        """(ok, reason) from really using the provider where `available` can only look
        (the embedded model generates a token). Default: `available`."""
        return self.available()

    @abstractmethod
    def complete(
        self,
        messages: list[Message],
        *,
        model: str,
        temperature: float | None,
        max_tokens: int,
        timeout_s: float,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """One chat completion. `temperature=None` means "send none": some
        models (Claude Sonnet 5.x) answer HTTP 400 to any sampling parameter.
        `cost_usd` is 0.0 here; prices belong to tiers (see `complete_tier`).
        A provider that can stop mid-reply does so when `cancel` is set (the
        embedded model, token by token); an HTTP call ends at its reply or timeout, and
        complete_tier abandons a free one when `cancel` is set."""

    def error(self, kind: str, message: str, status: int | None = None) -> ProviderError:
        return ProviderError(kind, message, provider=self.name, status=status)


@dataclass
class TierConfig:
    name: str
    provider: str
    model: str
    temperature: float | None  # None: never send a sampling temperature
    max_tokens: int
    timeout_s: float
    price_in_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)  # provider kwargs, e.g. host/base_url
    paid: bool = field(init=False)

    def __post_init__(self) -> None:
        self.paid = self.price_in_per_mtok > 0 or self.price_out_per_mtok > 0


def price(tier: TierConfig, input_tokens: int, output_tokens: int) -> float:
    """USD for one call. The only place tokens become money."""
    return (input_tokens * tier.price_in_per_mtok + output_tokens * tier.price_out_per_mtok) / 1_000_000


def complete_tier(
    provider: Provider,
    tier: TierConfig,
    messages: list[Message],
    *,
    temperature: float | None | object = dataclasses.MISSING,
    cancel: threading.Event | None = None,
) -> Completion:
    """Run `messages` on `tier` through `provider` and price the result.

    `temperature` defaults to the tier's; a tier whose temperature is None
    never sends one, whatever the caller's schedule says.
    """
    temp = tier.temperature if temperature is dataclasses.MISSING or tier.temperature is None else temperature
    assert temp is None or isinstance(temp, (int, float))
    started = time.perf_counter()

    def call() -> Completion:
        return provider.complete(
            messages,
            model=tier.model,
            temperature=temp,
            max_tokens=tier.max_tokens,
            timeout_s=tier.timeout_s,
            cancel=cancel,
        )

    # A cancel must not wait minutes for an HTTP reply. A free call is left to its thread and
    # its reply dropped; a paid one is waited for, so that what it cost is recorded.
    if cancel is not None and not tier.paid and not provider.stops_on_cancel:
        done = abandonable(call, cancel, provider.name)
    else:
        done = call()
    latency = done.latency_ms or (time.perf_counter() - started) * 1000
    return dataclasses.replace(done, cost_usd=price(tier, done.input_tokens, done.output_tokens), latency_ms=latency)


ABANDON_POLL_S = 0.05


def abandonable(call: Callable[[], Completion], cancel: threading.Event, provider: str) -> Completion:
    """`call()` in a thread of its own, waited for until it returns or `cancel` is set; then
    the call is abandoned (it ends at its reply or timeout, and nothing reads it)."""
    box: dict[str, Any] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=run, name=f"model-call-{provider}", daemon=True).start()
    while not finished.wait(ABANDON_POLL_S):
        if cancel.is_set():
            raise ProviderError("cancelled", "cancelled by the user: the call was abandoned", provider=provider)
    if "error" in box:
        raise box["error"]
    return box["value"]
