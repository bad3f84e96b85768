"""The word index: an artifact's words in SQLite FTS5, ranked by BM25.

The engine decides what an artifact's words are (identifiers arrive already split into
words); the index stores them under the artifact's seq, tokenised by FTS5's `porter
unicode61` (case folded, stemmed), and answers a query's terms OR-ed together, so a query
that shares only some words with an artifact still finds it. `artifact_words_made` records
which version of the word text each row was made from, and cascades with its artifact.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Sequence
from typing import Any

from . import db
from .artifacts import search_filters
from .records import ArtifactState

# A term is a run of letters or digits: FTS5 syntax characters in a query never reach MATCH.
_TERM = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 32


def match_expression(terms: Iterable[str]) -> str | None:
    """An FTS5 MATCH expression: each term quoted (no operator can be injected), OR-ed."""
    seen = dict.fromkeys(t.lower() for text in terms for t in _TERM.findall(text))
    quoted = [f'"{t}"' for t in list(seen)[:MAX_TERMS]]
    return " OR ".join(quoted) if quoted else None


class WordIndex:
    def __init__(self, database: db.Database) -> None:
        self.db = database

    def put(self, seq: int, words: str, version: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM artifact_words WHERE rowid = ?", (seq,))
            conn.execute("INSERT INTO artifact_words(rowid, words) VALUES (?, ?)", (seq, words))
            conn.execute("INSERT OR REPLACE INTO artifact_words_made(seq, version) VALUES (?, ?)", (seq, version))

    def remove(self, conn: Any, seq: int) -> None:
        """Inside the caller's write transaction (the artifact's deletion)."""
        conn.execute("DELETE FROM artifact_words WHERE rowid = ?", (seq,))

    def missing(self, version: str, after: int = 0, limit: int = 256) -> builtins.list[int]:
        """Seqs of artifacts whose words were not made by `version`, in order, after `after`."""
        with self.db.read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT a.seq FROM artifacts a WHERE a.seq > ? AND NOT EXISTS (SELECT 1 FROM "
                    "artifact_words_made m WHERE m.seq = a.seq AND m.version = ?) ORDER BY a.seq LIMIT ?",
                    (after, version, limit),
                )
            ]

    def count_missing(self, version: str) -> int:
        with self.db.read() as conn:
            return conn.execute(
                "SELECT count(*) FROM artifacts a WHERE NOT EXISTS (SELECT 1 FROM artifact_words_made m "
                "WHERE m.seq = a.seq AND m.version = ?)",
                (version,),
            ).fetchone()[0]

    def search(
        self,
        terms: Iterable[str],
        k: int = 10,
        *,
        min_quality: float = 0.0,
        min_merit: float = 0.0,
        type: str | None = None,
        tags: Sequence[str] | None = None,
        states: Sequence[ArtifactState | str] | None = None,
    ) -> builtins.list[tuple[int, float]]:
        """The k artifacts whose words best match, as (seq, BM25 score; higher is better)."""
        expression = match_expression(terms)
        if expression is None or k <= 0:
            return []
        where, args = search_filters(type, tags, min_quality, states, min_merit)
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT w.rowid, -bm25(artifact_words) AS s FROM artifact_words w JOIN artifacts a ON a.seq = w.rowid "
                f"WHERE artifact_words MATCH ? AND {where} ORDER BY bm25(artifact_words) LIMIT ?",
                (expression, *args, k),
            ).fetchall()
        return [(int(seq), float(score)) for seq, score in rows]
