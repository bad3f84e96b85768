"""Anthropic rung: the paid cloud tier through the official `anthropic` SDK.

`import anthropic` costs ~1.9 s, so it happens on the first call only, in
the engine's worker thread. The SDK's retries are off (max_retries=0): the
ladder decides what to do after a failure, and must learn of it at once.
"""

from __future__ import annotations

import os
import threading
import time

from .base import Completion, Message, Provider, ProviderError


class AnthropicProvider(Provider):
    name = "anthropic"

    def __init__(self, api_key: str | None = None, base_url: str | None = None, model: str | None = None):
        self.api_key = api_key or os.environ.get("ANTHROPIC_API_KEY") or None
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self.model = model
        self._sdk_client = None
        self._lock = threading.Lock()

    def available(self, model: str | None = None) -> tuple[bool, str]:
        # no request: a probe would cost money or quota; a bad key shows up as http 401
        if not self.api_key:
            return False, "no Anthropic API key (set ANTHROPIC_API_KEY)"
        return True, f"Anthropic key present ({self.base_url or 'api.anthropic.com'})"

    def _client(self):
        with self._lock:
            if self._sdk_client is None:
                import anthropic

                self._sdk_client = anthropic.Anthropic(api_key=self.api_key, base_url=self.base_url, max_retries=0)
            return self._sdk_client

    def complete(
        self, messages: list[Message], *, model, temperature, max_tokens, timeout_s, cancel=None
    ) -> Completion:
        if not self.api_key:
            raise self.error("unavailable", "no Anthropic API key (set ANTHROPIC_API_KEY)")
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        kwargs: dict = {
            "model": model,
            "max_tokens": max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in messages if m.role != "system"],
            "timeout": timeout_s,  # per request, so one client serves every tier
        }
        if system:
            kwargs["system"] = system
        if temperature is not None:
            # SDK 2.x dropped sampling parameters (current models answer 400 to
            # them); older models still take one, so it goes in the raw body.
            kwargs["extra_body"] = {"temperature": temperature}
        started = time.perf_counter()
        try:
            resp = self._client().messages.create(**kwargs)
        except Exception as exc:  # noqa: BLE001 - mapped to one error type below
            raise self._map(exc, model) from exc
        text, in_tok, out_tok = self._read(resp, model)
        return Completion(
            text=text,
            input_tokens=in_tok,
            output_tokens=out_tok,
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - started) * 1000,
            model=getattr(resp, "model", None) or model,
            provider=self.name,
        )

    def _read(self, resp, model: str) -> tuple[str, int, int]:
        # Without strict validation the SDK hands back whatever parsed (even a
        # plain str for a non-JSON body), so check the shape ourselves.
        content = getattr(resp, "content", None)
        usage = getattr(resp, "usage", None)
        in_tok = getattr(usage, "input_tokens", None)
        out_tok = getattr(usage, "output_tokens", None)
        if not isinstance(content, list) or not isinstance(in_tok, int) or not isinstance(out_tok, int):
            raise self.error("malformed", f"reply for {model!r} is not a Messages API message: {str(resp)[:120]!r}")
        # Newer models may put thinking blocks first: take text blocks by type, not position.
        texts = [getattr(b, "text", None) for b in content if getattr(b, "type", None) == "text"]
        if any(not isinstance(t, str) for t in texts):
            raise self.error("malformed", f"reply for {model!r} has a text block without text")
        return "".join(t for t in texts if isinstance(t, str)), in_tok, out_tok

    def _map(self, exc: Exception, model: str) -> ProviderError:
        import anthropic

        if isinstance(exc, anthropic.APIStatusError):
            err_type = getattr(exc, "type", None) or _body_error_type(exc.body)
            detail = getattr(exc, "api_message", None) or _body_error_message(exc.body) or str(exc)
            if exc.status_code == 404 and err_type == "not_found_error":
                return self.error("unknown_model", f"model {model!r}: {detail}", 404)
            label = f"HTTP {exc.status_code} {err_type}" if err_type else f"HTTP {exc.status_code}"
            return self.error("http", f"{label}: {detail}", exc.status_code)
        if isinstance(exc, anthropic.APITimeoutError):  # before APIConnectionError, its base
            return self.error("timeout", f"no reply from {self.base_url or 'Anthropic'} within the timeout")
        if isinstance(exc, anthropic.APIConnectionError):
            return self.error("unavailable", f"cannot connect to {self.base_url or 'Anthropic'}: {exc}")
        if isinstance(exc, (anthropic.APIResponseValidationError, ValueError)):
            return self.error("malformed", f"unreadable reply: {type(exc).__name__}: {exc}")
        return self.error("http", f"{type(exc).__name__}: {exc}")


def _body_error_type(body) -> str | None:
    err = body.get("error") if isinstance(body, dict) else None
    return err.get("type") if isinstance(err, dict) else None


def _body_error_message(body) -> str | None:
    err = body.get("error") if isinstance(body, dict) else None
    return err.get("message") if isinstance(err, dict) else None
