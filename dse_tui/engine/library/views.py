"""What an artifact is found by: the text of each of its views.

Different views find different things (measured: for paraphrased queries the code beat the
docstring, and "name: description" lost to both), so an artifact is searched by three:
- description: the description and the names of the spec's visible behaviours (what a
  user's task reads like);
- code: the function's signature, every identifier split into words, and the docstring
  (what the code is about, whatever the description says);
- words: all of the above as plain words, for BM25 (exact vocabulary: "roman", "luhn").
Held-out behaviours never enter a view: they stay unseen by everything but the judge.
"""

from __future__ import annotations

import ast
import re

from dse_tui.engine.specs.spec import parse_spec
from dse_tui.store.records import Artifact

# Bumped when a view's text changes: stores made with another version are re-indexed (a job).
VIEW_VERSION = "3"
MAX_VIEW_CHARS = 4000  # the embedder reads ~256 tokens; the word index needs no more either

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STOP_IDENTIFIERS = frozenset(
    "self cls def return if else elif for while in not and or is none true false import from as "
    "with try except finally raise lambda pass break continue yield global nonlocal assert del class".split()
)


# Words that say nothing about which function is meant; dropped from word-index queries, where
# a term in most artifacts ("a", "the", "function") costs BM25 a pass over most of the index.
QUERY_STOPWORDS = frozenset(
    "a an the of to in on for and or is are be by with that this it its as at from into their your my me "
    "i we you do does how what which who whether than then there these those all any each some can "
    "should would will want need write give make create implement function python code please".split()
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """A query's words for the word index: identifiers split as the views split them
    (`isPrime`, `is_prime` -> is, prime), stopwords dropped."""
    words = [w for token in _WORD.findall(query) for w in split_identifier(token).split()]
    return [w for w in dict.fromkeys(words) if w not in QUERY_STOPWORDS]


def split_identifier(name: str) -> str:
    """`camelCase_snake2x` -> "camel case snake2x": the words an identifier is made of."""
    parts = [p for chunk in name.split("_") for p in _CAMEL.split(chunk)]
    return " ".join(p.lower() for p in parts if p)


def behaviour_names(spec_text: str) -> list[str]:
    """Names of the spec's visible behaviours (none when the spec does not parse)."""
    try:
        spec = parse_spec(spec_text, origin="the stored spec")
    except Exception:  # an old or damaged spec: the view simply has no behaviour names
        return []
    return [b.name for b in spec.visible_behaviors]


def _function_parts(code: str, function: str) -> tuple[str, str]:
    """(signature, docstring) of `function` in `code`; empty when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return "", ""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            params = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            signature = f"{split_identifier(node.name)}({', '.join(split_identifier(a.arg) for a in params)})"
            return signature, ast.get_docstring(node) or ""
    return "", ""


def identifier_words(code: str) -> str:
    """Every distinct identifier of the code, split into words, in order of first use."""
    seen = dict.fromkeys(
        split_identifier(m) for m in _IDENT.findall(code) if m.lower() not in _STOP_IDENTIFIERS and len(m) > 1
    )
    return " ".join(w for w in seen if w)


def _name_words(artifact: Artifact) -> str:
    return split_identifier(artifact.name)


def description_text(artifact: Artifact, behaviours: list[str] | None = None) -> str:
    # the name and tags are left to the code and word views: measured, they blurred this one
    names = behaviours if behaviours is not None else behaviour_names(artifact.spec)
    text = artifact.description.rstrip(". ")
    if names:
        text += ". " + "; ".join(names)
    return text[:MAX_VIEW_CHARS]


def code_text(artifact: Artifact) -> str:
    signature, doc = _function_parts(artifact.content, artifact.function)
    parts = [signature or _name_words(artifact), identifier_words(artifact.content), " ".join(doc.split())]
    return "\n".join(p for p in parts if p)[:MAX_VIEW_CHARS]


def words_text(artifact: Artifact, behaviours: list[str] | None = None) -> str:
    names = behaviours if behaviours is not None else behaviour_names(artifact.spec)
    _, doc = _function_parts(artifact.content, artifact.function)
    parts = [
        _name_words(artifact),
        artifact.description,
        " ".join(names),
        " ".join(artifact.tags),
        identifier_words(artifact.content),
        doc,
    ]
    return " ".join(" ".join(parts).split())[:MAX_VIEW_CHARS]


def view_texts(artifact: Artifact) -> dict[str, str]:
    """Every view's text (the spec parsed once)."""
    names = behaviour_names(artifact.spec)
    return {
        "description": description_text(artifact, names),
        "code": code_text(artifact),
        "words": words_text(artifact, names),
    }
