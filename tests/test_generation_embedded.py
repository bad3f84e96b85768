"""Real offline generation with the embedded SmolLM2 tier, through the CLI (no network)."""

from __future__ import annotations

import json

import pytest

from helpers import ADD_SPEC
from test_cli import dse, write


@pytest.mark.slow
def test_embedded_model_writes_add_and_asking_again_is_a_reuse(starter_home, tmp_path):
    models = json.loads(dse(starter_home, "models", "--json").stdout)
    fast = next(t for t in models["tiers"] if t["name"] == "fast")
    if not fast["available"]:
        pytest.skip(f"embedded tier unavailable: {fast['reason']}")
    spec = write(tmp_path, "add.yaml", ADD_SPEC)
    task = "Write a function add(a, b) that returns their sum"

    first = dse(starter_home, "ask", task, "--spec", spec, "--json", timeout=600)
    assert first.returncode == 0, first.stderr
    made = json.loads(first.stdout)
    assert made["reused"] is False and made["tier"] == "fast" and made["cost_usd"] == 0
    shown = json.loads(dse(starter_home, "show", made["artifact_id"], "--json").stdout)
    assert shown["provenance"]["source"] == "generated" and shown["provenance"]["model"].startswith("SmolLM2")
    assert shown["test_results"]["all_passed"]

    again = dse(starter_home, "ask", task, "--spec", spec, "--json", timeout=300)
    assert again.returncode == 0, again.stderr
    reused = json.loads(again.stdout)
    assert reused["reused"] is True and reused["cost_usd"] == 0 and reused["attempts"] == 0
    assert reused["artifact_id"] == made["artifact_id"]
    transcript = json.loads(dse(starter_home, "transcripts", reused["transcript_id"], "--json").stdout)
    assert transcript["attempt_records"] == []  # no model call at all
    assert "attempt 1" not in again.stderr
