"""`dse doctor`: what this installation uses, and plainly what it lacks."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse_tui.engine import paths
from dse_tui.engine.sandbox import available_sandboxes, select_sandbox
from dse_tui.store.errors import StoreError

if TYPE_CHECKING:
    from dse_tui.engine.facade import Engine


def _sandbox_section() -> dict[str, Any]:
    try:
        chosen = select_sandbox()
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure instead of raising
        return {"selected": None, "ok": False, "warning": f"no sandbox available: {exc}", "available": []}
    section: dict[str, Any] = {
        "selected": chosen.name,
        "strength": chosen.strength,
        "description": chosen.describe(),
        "available": [
            {"name": s.name, "strength": s.strength, "description": s.describe()} for s in available_sandboxes()
        ],
        "ok": chosen.strength == "strong",
    }
    if chosen.strength != "strong":
        section["warning"] = (
            "untrusted code runs with WEAK isolation (no namespaces); install bubblewrap for strong isolation"
            if chosen.strength == "weak"
            else "untrusted code runs WITHOUT isolation; install bubblewrap, or use a kernel with Landlock"
        )
    return section


def _embedder_section(engine: Engine | None, home: Path) -> dict[str, Any]:
    try:
        if engine is not None:
            embedder = engine.embedder
        else:  # the store cannot be opened: show the embedder on its own
            from dse_tui.engine.library.embedder import get_embedder

            embedder = get_embedder(paths.cache_dir(home))
            embedder.load()
        return {
            "ok": True,
            "name": embedder.name,
            "dim": embedder.dim,
            "model_path": str(getattr(embedder, "model_dir", "")),
        }
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)}


def _store_section(engine: Engine | None, home: Path, store_error: Exception | None) -> dict[str, Any]:
    path = str(paths.store_path(home))
    if engine is None:
        return {"ok": False, "path": path, "error": str(store_error)}
    try:
        return {"ok": True, **engine.store_stats()}
    except StoreError as exc:
        return {"ok": False, "path": path, "error": str(exc)}


def _llama_section() -> dict[str, Any]:
    """How llama.cpp was built here (recorded by ./install.sh), or that it came another way."""
    from dse_tui.engine.generation.providers.llama_build import installed_build

    build = installed_build()
    if build is None:
        return {"built_by_install": False, "note": "not built by ./install.sh: run it to build llama.cpp for this CPU"}
    return {"built_by_install": True, "features": build.get("features", []), "cmake_args": build.get("cmake_args", [])}


def tiers_section(*, probe: bool = True) -> dict[str, Any]:
    """Every tier and whether it can answer. probe=True really uses a tier where looking is not
    enough (the embedded model generates one token, remembered per build and CPU)."""
    try:
        from dse_tui.engine.generation.providers import load_ladder_config, provider_for_tier
    except ImportError as exc:
        return {"ok": False, "error": f"providers unavailable: {exc}", "tiers": []}
    tiers = []
    try:
        ladder = load_ladder_config()
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc), "tiers": []}
    for tier in ladder.tiers:
        try:
            provider = provider_for_tier(tier)
            ok, reason = provider.probe() if probe else provider.available()
        except Exception as exc:  # noqa: BLE001
            ok, reason = False, str(exc)
        tiers.append(
            {
                "name": tier.name,
                "provider": tier.provider,
                "model": tier.model,
                "available": ok,
                "reason": reason,
                "price_in_per_mtok": tier.price_in_per_mtok,
                "price_out_per_mtok": tier.price_out_per_mtok,
            }
        )
    return {"ok": any(t["available"] for t in tiers), "tiers": tiers, "daily_budget_usd": ladder.daily_budget_usd}


def report(home: Path, engine: Engine | None, store_error: Exception | None = None) -> dict[str, Any]:
    """Everything doctor says; `engine` is None when the store could not be opened (`store_error`)."""
    return {
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "home": str(home),
        "sandbox": _sandbox_section(),
        "embedder": _embedder_section(engine, home),
        "store": _store_section(engine, home, store_error),
        "llm": tiers_section(),
        "llama_cpp": _llama_section(),
    }
