"""Ollama rung: a local or LAN server through the official `ollama` client.

The client is imported inside methods (import costs ~0.25 s). The module is
not named `ollama.py` so it can never shadow the SDK.
"""

from __future__ import annotations

import json
import os
import time

from .base import Completion, Message, Provider, ProviderError

DEFAULT_HOST = "http://127.0.0.1:11434"
AVAILABILITY_TIMEOUT_S = 1.0


def _same_model(wanted: str, listed: str) -> bool:
    # Ollama lists "name:tag"; a name without a tag means ":latest"
    norm = lambda n: n if ":" in n else f"{n}:latest"  # noqa: E731
    return norm(wanted) == norm(listed)


class OllamaProvider(Provider):
    name = "ollama"

    def __init__(self, host: str | None = None, model: str | None = None):
        self.host = host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
        self.model = model  # what available() checks for when not told

    def _client(self, timeout_s: float):
        import ollama

        return ollama.Client(host=self.host, timeout=timeout_s)

    def available(self, model: str | None = None) -> tuple[bool, str]:
        model = model or self.model
        try:
            with self._client(AVAILABILITY_TIMEOUT_S) as client:
                listed = [m.model for m in client.list().models if m.model]
        except Exception as exc:  # noqa: BLE001 - any failure means "not usable now"
            err = self._map(exc, model or "")
            return False, f"ollama at {self.host}: {err.message}"
        if model is None:
            return True, f"ollama at {self.host}: {len(listed)} models"
        if any(_same_model(model, name) for name in listed):
            return True, f"ollama at {self.host} has {model}"
        return False, f"ollama at {self.host} has no model {model!r} (try `ollama pull {model}`)"

    def complete(
        self, messages: list[Message], *, model, temperature, max_tokens, timeout_s, cancel=None
    ) -> Completion:
        options: dict = {"num_predict": max_tokens}
        if temperature is not None:
            options["temperature"] = temperature
        started = time.perf_counter()
        try:
            with self._client(timeout_s) as client:
                resp = client.chat(
                    model=model,
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    options=options,
                    stream=False,
                )
        except Exception as exc:  # noqa: BLE001 - mapped to one error type below
            raise self._map(exc, model) from exc
        text = resp.message.content if resp.message is not None else None
        if not isinstance(text, str):
            raise self.error("malformed", f"reply for {model!r} has no message content")
        return Completion(
            text=text,
            input_tokens=resp.prompt_eval_count or 0,
            output_tokens=resp.eval_count or 0,
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - started) * 1000,
            model=resp.model or model,
            provider=self.name,
        )

    def create(self, model: str, *, from_: str, system: str | None = None, timeout_s: float = 60.0) -> str:
        """Derive a model (e.g. the specialist tier) from a base: POST /api/create."""
        try:
            with self._client(timeout_s) as client:
                resp = client.create(model=model, from_=from_, system=system, stream=False)
        except Exception as exc:  # noqa: BLE001
            raise self._map(exc, from_) from exc
        return resp.status or ""

    def _map(self, exc: Exception, model: str) -> ProviderError:
        import httpx
        import ollama
        import pydantic

        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404:
                return self.error("unknown_model", f"model {model!r}: {exc.error}", 404)
            return self.error("http", f"HTTP {exc.status_code}: {exc.error}", exc.status_code)
        if isinstance(exc, httpx.TimeoutException):
            return self.error("timeout", f"no reply from {self.host} within the timeout ({type(exc).__name__})")
        if isinstance(exc, (ConnectionError, httpx.ConnectError, httpx.NetworkError)):
            return self.error("unavailable", f"cannot connect to {self.host}")
        if isinstance(
            exc,
            (
                json.JSONDecodeError,
                pydantic.ValidationError,
                httpx.RemoteProtocolError,
                httpx.DecodingError,
                TypeError,
                ValueError,
            ),
        ):
            return self.error("malformed", f"unreadable reply from {self.host}: {type(exc).__name__}: {exc}")
        return self.error("http", f"{type(exc).__name__}: {exc}")
