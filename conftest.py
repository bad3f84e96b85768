"""Shared fixtures. The embedder loads once per session; every test gets its own home."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tests"))  # tests/helpers.py and tests/fakes


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory) -> Path:
    """One cache for the whole run (the embedded tier's probe verdicts), never the user's."""
    return tmp_path_factory.mktemp("xdg_cache")


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory, monkeypatch, _session_cache):
    """No test touches the user's real data, config or cache, or reaches a real model server."""
    home = tmp_path_factory.mktemp("dse_home_env")
    monkeypatch.setenv("DSE_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(_session_cache))
    monkeypatch.setenv("DSE_TEST_PROVIDERS", "1")  # the scripted provider, for models.yaml files tests write
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # discard port: nothing listens
    # the machine's own load during the suite must not decide which tiers a test may use;
    # pressure tests read fake sensors and unset this
    monkeypatch.setenv("DSE_PRESSURE", "medium")
    monkeypatch.delenv("DSE_LIVING_FILE", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("DSE_MODELS_FILE", raising=False)


@pytest.fixture(scope="session")
def embedder(tmp_path_factory):
    from dse_tui.engine.library.embedder import get_embedder

    return get_embedder(tmp_path_factory.mktemp("embedder_cache"))


@pytest.fixture
def tmp_home(tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def engine(tmp_home, embedder):
    """An engine on an empty store."""
    from dse_tui.engine.facade import Engine

    eng = Engine(tmp_home, embedder=embedder)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def _starter_db(tmp_path_factory, embedder) -> Path:
    from dse_tui.engine.facade import Engine

    home = tmp_path_factory.mktemp("starter_home")
    eng = Engine(home, embedder=embedder)
    eng.ensure_starter_library()
    eng.run_jobs()  # verified here, as a store in use would be: no job left for the tests to race
    eng.close()
    return home


@pytest.fixture
def library_engine(tmp_path, _starter_db, embedder):
    """An engine whose store holds the imported starter library (copied, so tests may change it)."""
    from dse_tui.engine.facade import Engine

    home = tmp_path / "library_home"
    shutil.copytree(_starter_db, home, ignore=shutil.ignore_patterns("cache"))
    eng = Engine(home, embedder=embedder)
    yield eng
    eng.close()


@pytest.fixture
def starter_home(tmp_path, _starter_db) -> Path:
    """A home directory holding the imported starter library, for CLI runs."""
    home = tmp_path / "cli_home"
    shutil.copytree(_starter_db, home)
    return home


@pytest.fixture(autouse=True)
def _unicode_glyphs(monkeypatch):
    """Screens draw ✓ and ✗ unless the terminal cannot (TERM=linux, a non-UTF-8 locale): the
    tests fix the choice, so that the machine's locale does not decide what they see."""
    monkeypatch.setenv("DSE_GLYPHS", "unicode")
