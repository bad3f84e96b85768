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
# BM25 costs ~1 us per artifact holding any query term (FTS5 scores every match), so a term in
# most of a large library (`item` in 99.8% of 100k: 80 ms) is dropped, rarest terms first kept
# within this many postings. The dropped terms are the ones BM25 weighs least (at df > N/2 its
# idf is clamped to ~0); a small library keeps every term.
POSTINGS_BUDGET = 20_000


def distinct_terms(terms: Iterable[str]) -> builtins.list[str]:
    """Distinct lower-cased terms, in order, at most MAX_TERMS."""
    return list(dict.fromkeys(t.lower() for text in terms for t in _TERM.findall(text)))[:MAX_TERMS]


def match_expression(terms: Iterable[str]) -> str | None:
    """An FTS5 MATCH expression: each term quoted (no operator can be injected), OR-ed."""
    quoted = [f'"{t}"' for t in distinct_terms(terms)]
    return " OR ".join(quoted) if quoted else None


def _temp_tables(conn: Any) -> None:
    """Per connection: a scratch table that stems terms as the index does, and vocabularies."""
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_terms USING fts5(t, tokenize = 'porter unicode61')")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_stems USING fts5vocab(temp, query_terms, 'instance')")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.word_counts USING fts5vocab(main, artifact_words, 'row')")


def affordable(conn: Any, terms: Sequence[str], budget: int = POSTINGS_BUDGET) -> builtins.list[str]:
    """`terms` without the commonest ones whose postings would exceed `budget` (each term's
    artifact count read from the index's vocabulary, under the stem the index stores)."""
    if not terms:
        return []
    _temp_tables(conn)
    conn.execute("DELETE FROM temp.query_terms")
    conn.executemany("INSERT INTO temp.query_terms(rowid, t) VALUES (?, ?)", list(enumerate(terms)))
    stems = {doc: term for term, doc in conn.execute("SELECT term, doc FROM temp.query_stems")}
    counts: dict[int, int] = {}
    for i in range(len(terms)):
        row = conn.execute("SELECT doc FROM temp.word_counts WHERE term = ?", (stems.get(i, terms[i]),)).fetchone()
        counts[i] = row[0] if row else 0
    kept, spent = set(), 0
    for i in sorted(counts, key=counts.__getitem__):
        if counts[i] and spent + counts[i] > budget:
            break
        kept.add(i)
        spent += counts[i]
    return [t for i, t in enumerate(terms) if i in kept]


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
        where, args = search_filters(type, tags, min_quality, states, min_merit)
        if k <= 0:
            return []
        with self.db.read() as conn:
            expression = match_expression(affordable(conn, distinct_terms(terms)))
            if expression is None:
                return []
            if where == "1":  # no filter: no join, FTS5 alone ranks and cuts
                rows = conn.execute(
                    "SELECT rowid, -bm25(artifact_words) FROM artifact_words WHERE artifact_words MATCH ? "
                    "ORDER BY bm25(artifact_words) LIMIT ?",
                    (expression, k),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT w.rowid, -bm25(artifact_words) FROM artifact_words w JOIN artifacts a "
                    f"ON a.seq = w.rowid WHERE artifact_words MATCH ? AND {where} ORDER BY bm25(artifact_words) LIMIT ?",
                    (expression, *args, k),
                ).fetchall()
        return [(int(seq), float(score)) for seq, score in rows]
