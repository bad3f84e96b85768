"""What an artifact is found by: the text its vector is made from."""

from __future__ import annotations

from dse_tui.store.records import Artifact


def embed_text(artifact: Artifact) -> str:
    """Its meaning (name, description, tags), not its code: queries are task descriptions."""
    name = artifact.name.replace("_", " ")
    tags = ", ".join(artifact.tags)
    return f"{name}: {artifact.description}" + (f" ({tags})" if tags else "")
