"""The ask path over the real Ollama and Anthropic clients, against loopback servers that speak
their HTTP APIs: a failing rung ends its attempt cleanly and the climb goes on."""

from __future__ import annotations

import pytest

from dse_tui.engine.generation.providers import Ladder, TierConfig
from fakes import FakeAnthropic, FakeOllama, Reply
from helpers import ADD_CODE, ADD_SPEC

FAILURES = {
    "server error": (FakeOllama.error_reply(500, "CUDA out of memory"), "http"),
    "garbage body": (Reply(body="<html>502 Bad Gateway</html>", content_type="text/html"), "malformed"),
    "timeout": (Reply(body={"message": {"content": "late"}}, delay_s=2.0), "timeout"),
    "unknown model": (FakeOllama.error_reply(404, 'model "qwen2.5-coder:7b" not found, try pulling it first'), "unknown_model"),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failing_ollama_rung_escalates_to_anthropic(engine, monkeypatch, failure):
    reply, kind = FAILURES[failure]
    with FakeOllama(models=["qwen2.5-coder:7b"]) as ollama, FakeAnthropic(api_key="test-key") as anthropic:
        anthropic.reply = f"Here you go:\n```python\n{ADD_CODE}```"
        tags = ollama.route("GET", "/api/tags", None, {})  # the availability check comes first
        ollama.push(tags, reply)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        ladder = Ladder(
            tiers=[
                TierConfig("balanced", "ollama", "qwen2.5-coder:7b", 0.3, 256, 0.5, options={"host": ollama.url}),
                TierConfig("powerful", "anthropic", "claude-sonnet-5-5", None, 512, 5.0, 2.0, 10.0,
                           options={"base_url": anthropic.url}),
            ],
            temperature_schedule=[0.2, 0.6],
            max_attempts=3,
        )
        result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder, budget_usd=1.0)

    assert result.outcome == "generated" and result.tier == "powerful" and result.attempts == 2
    assert result.cost_usd > 0
    first, second = engine.transcript(result.transcript_id).attempt_records
    assert first.tier == "balanced" and not first.passed
    assert first.error.startswith("the model call failed") and f": {kind}: " in first.error
    # nothing was learnt from a failed call, so the next tier gets the plain prompt
    assert second.passed and "the model call failed" not in second.prompt[-1]["content"]
    sent = anthropic.requests[-1].body
    assert "temperature" not in sent  # this tier sends none
    assert engine.artifacts.get(result.artifact.id).provenance["model"] == "claude-sonnet-5-5"


def _cancel_when_asked(server, cancel):
    """Set `cancel` as soon as the server has received a chat/messages request."""
    import threading
    import time

    def watch():
        while not any(r.method == "POST" for r in server.requests):
            time.sleep(0.01)
        cancel.set()

    threading.Thread(target=watch, daemon=True).start()


def test_cancel_abandons_a_free_http_call_at_once(engine):
    import threading
    import time

    cancel = threading.Event()
    with FakeOllama(models=["qwen2.5-coder:7b"]) as ollama:
        tags = ollama.route("GET", "/api/tags", None, {})
        ollama.push(tags, Reply(body=ollama._chat_body("qwen2.5-coder:7b", f"```python\n{ADD_CODE}```"), delay_s=10.0))
        ladder = Ladder(tiers=[TierConfig("balanced", "ollama", "qwen2.5-coder:7b", 0.3, 256, 60.0,
                                          options={"host": ollama.url})], temperature_schedule=[0.2], max_attempts=2)
        _cancel_when_asked(ollama, cancel)
        started = time.monotonic()
        result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder, cancel=cancel)
        waited = time.monotonic() - started
    assert result.outcome == "cancelled" and waited < 5.0, waited  # not the 10 s the server takes
    (attempt,) = engine.transcript(result.transcript_id).attempt_records
    assert "abandoned" in attempt.error and attempt.cost_usd == 0


def test_cancel_waits_for_a_paid_call_so_its_cost_is_recorded(engine, monkeypatch):
    import threading
    import time

    cancel = threading.Event()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with FakeAnthropic(api_key="test-key") as anthropic:
        text = f"```python\n{ADD_CODE}```"
        anthropic.reply = lambda body: (time.sleep(1.5), text)[1]  # long enough for the cancel to land
        ladder = Ladder(tiers=[TierConfig("powerful", "anthropic", "claude-sonnet-5-5", None, 512, 30.0, 2.0, 10.0,
                                          options={"base_url": anthropic.url})], temperature_schedule=[0.2],
                        max_attempts=2)
        _cancel_when_asked(anthropic, cancel)
        result = engine.ask("add two numbers", ADD_SPEC, ladder=ladder, cancel=cancel, budget_usd=1.0)
    records = engine.transcript(result.transcript_id).attempt_records
    assert records and records[0].cost_usd > 0 and result.cost_usd == records[0].cost_usd  # the call was paid: kept
