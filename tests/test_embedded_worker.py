"""The embedded model runs in a process of its own: its crashes, hangs and garbage are failed
attempts, never the end of DSE; cancel and timeouts stop it at once; nothing is left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from dse_tui.engine.generation.providers import Message, ProviderError, ScriptedProvider, TierConfig
from dse_tui.engine.generation.providers import embedded
from dse_tui.engine.generation.providers.embedded import EmbeddedProvider
from dse_tui.engine.generation.providers.embedded_process import describe_exit, live_pids, shutdown_workers

from helpers import ADD_SPEC
from test_ask import RIGHT_ADD, ladder, tier

FAKE = str(Path(__file__).parent / "fakes" / "model_worker.py")
MESSAGES = [Message("user", "Write add(a, b).")]


@pytest.fixture
def gguf(tmp_path) -> str:
    path = tmp_path / "stand-in.gguf"
    path.write_bytes(b"GGUF stand-in")  # the fake worker never reads it
    return str(path)


def fake(gguf: str, mode: str) -> EmbeddedProvider:
    return EmbeddedProvider(model_path=gguf, worker_command=[sys.executable, FAKE, mode])


def complete(provider: EmbeddedProvider, **kwargs):
    return provider.complete(MESSAGES, model=provider.model, temperature=0.2, max_tokens=50,
                             timeout_s=kwargs.pop("timeout_s", 30), **kwargs)


@pytest.fixture(autouse=True)
def _no_worker_left_behind():
    yield
    pids = live_pids()
    shutdown_workers()
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_warm_worker_answers_twice_from_the_same_process(gguf):
    provider = fake(gguf, "ok")
    first = complete(provider)
    pid = live_pids()
    second = complete(provider)
    assert "def add(a, b)" in first.text and first.text == second.text
    assert first.output_tokens > 0 and first.provider == "embedded"
    assert live_pids() == pid and len(pid) == 1  # kept warm, not started again


def test_sigill_is_a_crashed_call_with_the_reason_and_is_remembered(gguf):
    provider = fake(gguf, "sigill_on_load")
    with pytest.raises(ProviderError) as info:
        complete(provider)
    assert info.value.kind == "crashed"
    assert "SIGILL, illegal instruction" in info.value.message and "./install.sh" in info.value.message
    assert live_pids() == []
    # The build cannot run here: the tier now says so without starting anything.
    ok, reason = provider.available()
    assert not ok and "SIGILL" in reason
    assert provider.probe() == (False, reason)


def test_probe_of_a_crashing_build_reports_it_unavailable(gguf):
    provider = fake(gguf, "sigill_on_load")
    ok, reason = provider.probe()
    assert not ok and "one-token probe failed" in reason and "SIGILL" in reason
    assert fake(gguf, "ok").probe()[0]  # another worker command is another verdict


def test_probe_of_a_working_build_is_remembered(gguf, monkeypatch):
    provider = fake(gguf, "ok")
    ok, reason = provider.probe()
    assert ok and "one-token probe ran" in reason
    monkeypatch.setattr(embedded.EmbeddedProvider, "_generate", lambda *a, **k: pytest.fail("probed twice"))
    assert provider.probe() == (True, reason)


def test_sigsegv_mid_reply_is_a_crash_that_is_not_remembered(gguf):
    provider = fake(gguf, "sigsegv_on_complete")
    with pytest.raises(ProviderError) as info:
        complete(provider)
    assert info.value.kind == "crashed" and "SIGSEGV, segmentation fault" in info.value.message
    assert provider.available()[0]  # one crash of this kind says nothing about the build


def test_a_worker_that_exits_says_its_code_and_last_words(gguf):
    with pytest.raises(ProviderError) as info:
        complete(fake(gguf, "exit_on_complete"))
    assert info.value.kind == "crashed"
    assert "exited with code 3" in info.value.message and "out of cheese" in info.value.message


def test_garbage_from_the_worker_ends_the_call_not_the_caller(gguf):
    with pytest.raises(ProviderError) as info:
        complete(fake(gguf, "garbage"))
    assert info.value.kind == "crashed" and "malformed frame" in info.value.message
    assert live_pids() == []


def test_cancel_kills_a_hanging_worker_at_once(gguf):
    provider = fake(gguf, "hang")
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        complete(provider, cancel=cancel)
    assert info.value.kind == "cancelled"
    assert time.monotonic() - started < 2.0
    assert live_pids() == []


def test_a_missed_deadline_kills_the_worker(gguf, monkeypatch):
    monkeypatch.setattr(embedded, "KILL_GRACE_S", 0.2)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        complete(fake(gguf, "hang"), timeout_s=0.3)
    assert info.value.kind == "timeout" and time.monotonic() - started < 3.0
    assert live_pids() == []


def test_the_ask_goes_on_past_a_crashed_embedded_tier(engine, gguf):
    backup = ScriptedProvider([RIGHT_ADD])
    crashing = fake(gguf, "sigill_on_load")
    fast = TierConfig(name="fast", provider="embedded", model="stand-in", temperature=0.2, max_tokens=100, timeout_s=30)
    result = engine.ask("Write add(a, b)", ADD_SPEC, ladder=ladder(fast, tier("backup")),
                        providers={"fast": crashing, "backup": backup})
    assert result.outcome == "generated" and result.tier == "backup"
    transcript = engine.transcript(result.transcript_id)
    assert "SIGILL" in transcript.attempt_records[0].error
    assert any(s["tier"] == "fast" and s["reason"].startswith("crashed") for s in result.skipped)


def test_describe_exit_names_signals_and_codes():
    text, number = describe_exit(-signal.SIGILL, "")
    assert number == signal.SIGILL and "illegal instruction" in text
    assert "SIGKILL" in describe_exit(-9, "")[0]
    assert describe_exit(2, "boom\n\n")[0].endswith("exited with code 2: boom")


def _real_fast_tier():
    from dse_tui.engine.generation.providers import load_ladder_config, provider_for_tier

    fast = load_ladder_config(user=False).tier("fast")
    provider = provider_for_tier(fast)
    ok, reason = provider.available()
    if not ok:
        pytest.skip(f"embedded tier unavailable: {reason}")
    return fast, provider


@pytest.mark.slow
def test_the_real_worker_killed_mid_reply_is_a_crash_and_the_next_call_works():
    fast, provider = _real_fast_tier()
    messages = [Message("user", "Write a long Python module with ten functions and their docstrings.")]
    killer_done = threading.Event()

    def kill_when_started() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not live_pids():
            time.sleep(0.01)
        time.sleep(0.3)
        for pid in live_pids():
            os.kill(pid, signal.SIGSEGV)
        killer_done.set()

    threading.Thread(target=kill_when_started, daemon=True).start()
    with pytest.raises(ProviderError) as info:
        provider.complete(messages, model=fast.model, temperature=0.2, max_tokens=2000, timeout_s=120)
    assert killer_done.wait(5)
    assert info.value.kind == "crashed" and "SIGSEGV" in info.value.message
    again = provider.complete([Message("user", "Say hello.")], model=fast.model, temperature=0.2, max_tokens=8, timeout_s=60)
    assert again.output_tokens > 0


@pytest.mark.slow
def test_cli_ask_survives_the_embedded_worker_crashing(starter_home, tmp_path):
    from test_cli import write

    _real_fast_tier()
    models = tmp_path / "models.yaml"
    models.write_text(json.dumps({
        "max_attempts": 3,
        "tiers": [
            {"name": "fast", "provider": "embedded", "model": "SmolLM2-135M-Instruct.Q4_1.gguf", "temperature": 0.2,
             "max_tokens": 2000, "timeout_s": 120},
            {"name": "backup", "provider": "scripted", "model": "backup", "temperature": 0.2, "max_tokens": 400,
             "timeout_s": 10, "options": {"replies": [RIGHT_ADD]}},
        ]}))
    env = {**os.environ, "DSE_HOME": str(starter_home), "DSE_MODELS_FILE": str(models)}
    spec = write(tmp_path, "add.yaml", ADD_SPEC)
    proc = subprocess.Popen([sys.executable, "-m", "dse_tui", "ask", "Write a long module of ten numeric helpers "
                             "with docstrings, among them add(a, b)", "--spec", spec, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    worker = None
    deadline = time.monotonic() + 120
    while worker is None and time.monotonic() < deadline and proc.poll() is None:
        worker = next((c for c in psutil.Process(proc.pid).children(recursive=True)
                       if "embedded_worker" in " ".join(c.cmdline())), None)
        time.sleep(0.02)
    assert worker is not None, "the embedded worker never started"
    worker.send_signal(signal.SIGSEGV)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["tier"] == "backup" and result["outcome"] == "generated"
    assert "crashed (SIGSEGV" in err
    assert not psutil.pid_exists(worker.pid) or worker.status() == psutil.STATUS_ZOMBIE
