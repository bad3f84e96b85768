"""Vector helpers: what text an artifact is embedded from, and blob packing."""

from __future__ import annotations

import numpy as np

from .records import Artifact


def embed_text(artifact: Artifact) -> str:
    """The text an artifact is embedded by: its meaning (name, description, tags), not its code,
    since queries are task descriptions."""
    name = artifact.name.replace("_", " ")
    tags = ", ".join(artifact.tags)
    return f"{name}: {artifact.description}" + (f" ({tags})" if tags else "")


def as_unit_f32(vector, dim: int | None = None) -> np.ndarray:
    """Validate and L2-normalise one vector (defensive: the embedder already normalises)."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dim is not None and v.shape[0] != dim:
        raise ValueError(f"vector has {v.shape[0]} dimensions, the store's model has {dim}")
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n == 0.0:
        raise ValueError("vector must be finite and non-zero")
    return v / n


def to_blob(v: np.ndarray) -> bytes:
    return np.ascontiguousarray(v, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


def quantize(v: np.ndarray) -> bytes:
    """1 bit per dimension (sign), packed for a vec0 `bit[dim]` column; same layout as vec_quantize_binary."""
    return np.packbits(np.asarray(v) > 0, bitorder="little").tobytes()
