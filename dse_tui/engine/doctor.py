"""`dse doctor`: what this installation uses, and plainly what it lacks."""

from __future__ import annotations

import platform
import sys
from typing import TYPE_CHECKING, Any

from dse_tui.engine.sandbox import available_sandboxes, select_sandbox

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
        "available": [{"name": s.name, "strength": s.strength, "description": s.describe()} for s in available_sandboxes()],
        "ok": chosen.strength == "strong",
    }
    if chosen.strength != "strong":
        section["warning"] = (
            "untrusted code runs with WEAK isolation (no namespaces); install bubblewrap for strong isolation"
            if chosen.strength == "weak"
            else "untrusted code runs WITHOUT isolation; install bubblewrap, or use a kernel with Landlock"
        )
    return section


def _embedder_section(engine: Engine) -> dict[str, Any]:
    try:
        embedder = engine.embedder
        return {"ok": True, "name": embedder.name, "dim": embedder.dim, "model_path": str(getattr(embedder, "model_dir", ""))}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)}


def _store_section(engine: Engine) -> dict[str, Any]:
    stats = engine.store.stats()
    return {"ok": True, "path": str(engine.store.path), **stats}


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
        tiers.append({
            "name": tier.name, "provider": tier.provider, "model": tier.model, "available": ok, "reason": reason,
            "price_in_per_mtok": tier.price_in_per_mtok, "price_out_per_mtok": tier.price_out_per_mtok,
        })
    return {"ok": any(t["available"] for t in tiers), "tiers": tiers, "daily_budget_usd": ladder.daily_budget_usd}


def report(engine: Engine) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "home": str(engine.home),
        "sandbox": _sandbox_section(),
        "embedder": _embedder_section(engine),
        "store": _store_section(engine),
        "llm": tiers_section(),
    }
