"""Providers of the generation ladder, through the real client libraries
against loopback fakes of their HTTP APIs (no network)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from dse_tui.engine.generation.providers import (
    Completion,
    LadderConfigError,
    Message,
    ProviderError,
    ScriptedProvider,
    TierConfig,
    complete_tier,
    load_ladder,
    load_ladder_config,
    make_provider,
    price,
    provider_for_tier,
)

try:  # tests/ is on sys.path when it is not a package (pytest's rootdir-less layout)
    from fakes import FakeAnthropic, FakeOllama, Reply
except ImportError:  # pragma: no cover
    from tests.fakes import FakeAnthropic, FakeOllama, Reply

FAST_FAIL_S = 1.5  # every failure must surface well within this (no retries, short timeouts)
PROMPT = [Message("system", "You write Python."), Message("user", "Write add(a, b).")]


def tier(provider: str, model: str, **kw) -> TierConfig:
    base = dict(name="t", provider=provider, model=model, temperature=0.3, max_tokens=64,
                timeout_s=5.0, price_in_per_mtok=2.0, price_out_per_mtok=10.0)
    base.update(kw)
    return TierConfig(**base)


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch, tmp_path):
    # a developer's real key/host/user file must never leak into these tests
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OLLAMA_HOST", "OLLAMA_API_KEY", "DSE_MODELS_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def ollama_server():
    with FakeOllama(models=["qwen2.5-coder:7b", "llama3"]) as server:
        yield server


@pytest.fixture
def anthropic_server():
    with FakeAnthropic(api_key="test-key") as server:
        yield server


@pytest.fixture
def closed_port_url():
    with FakeOllama() as server:
        url = server.url
    return url  # nothing listens there any more


def expect_error(kind: str, fn, *args, **kwargs) -> ProviderError:
    started = time.perf_counter()
    with pytest.raises(ProviderError) as info:
        fn(*args, **kwargs)
    elapsed = time.perf_counter() - started
    assert info.value.kind == kind, str(info.value)
    assert elapsed < FAST_FAIL_S, f"{kind} took {elapsed:.2f}s"
    assert "\n" not in str(info.value)
    return info.value


# -- Ollama ---------------------------------------------------------------------

def ollama_call(server, model="qwen2.5-coder:7b", timeout_s=5.0, temperature=0.3):
    provider = make_provider("ollama", host=server.url)
    return provider.complete(PROMPT, model=model, temperature=temperature, max_tokens=64, timeout_s=timeout_s)


def test_ollama_success_tokens_cost_and_request(ollama_server):
    ollama_server.reply = "def add(a, b):\n    return a + b\n"
    t = tier("ollama", "qwen2.5-coder:7b", options={"host": ollama_server.url})
    done = complete_tier(provider_for_tier(t), t, PROMPT, temperature=0.6)
    assert done.text == "def add(a, b):\n    return a + b\n"
    assert (done.input_tokens, done.output_tokens) == (26, 12)
    assert done.cost_usd == pytest.approx((26 * 2.0 + 12 * 10.0) / 1e6)
    assert (done.provider, done.model) == ("ollama", "qwen2.5-coder:7b")
    assert done.latency_ms > 0
    sent = ollama_server.requests[-1]
    assert sent.path == "/api/chat" and sent.body["stream"] is False
    assert sent.body["options"] == {"temperature": 0.6, "num_predict": 64}
    assert sent.body["messages"] == [{"role": "system", "content": "You write Python."},
                                     {"role": "user", "content": "Write add(a, b)."}]


def test_ollama_free_tier_costs_nothing_and_none_temperature_is_not_sent(ollama_server):
    t = tier("ollama", "qwen2.5-coder:7b", temperature=None, price_in_per_mtok=0, price_out_per_mtok=0,
             options={"host": ollama_server.url})
    done = complete_tier(provider_for_tier(t), t, PROMPT, temperature=0.8)
    assert done.cost_usd == 0.0 and not t.paid
    assert "temperature" not in ollama_server.requests[-1].body["options"]


def test_ollama_host_from_env(ollama_server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    done = make_provider("ollama").complete(PROMPT, model="llama3", temperature=0.2, max_tokens=8, timeout_s=5)
    assert done.text == "ok"


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_ollama_http_errors(ollama_server, status):
    ollama_server.push(FakeOllama.error_reply(status, f"boom {status}"))
    err = expect_error("http", ollama_call, ollama_server)
    assert err.status == status and f"boom {status}" in str(err)
    assert len(ollama_server.requests) == 1  # no retries


def test_ollama_unknown_model(ollama_server):
    err = expect_error("unknown_model", ollama_call, ollama_server, model="nope:1b")
    assert "nope:1b" in str(err) and err.status == 404


def test_ollama_timeout(ollama_server):
    ollama_server.push(Reply(body={}, delay_s=3))
    expect_error("timeout", ollama_call, ollama_server, timeout_s=0.4)


@pytest.mark.parametrize("reply", [
    Reply(body="<html>not json</html>", content_type="text/html"),
    Reply(body={"unexpected": True}),
    Reply(body={"model": "m", "message": {"role": "assistant"}, "done": True}),  # no content
])
def test_ollama_garbage_body(ollama_server, reply):
    ollama_server.push(reply)
    expect_error("malformed", ollama_call, ollama_server)


def test_ollama_connection_refused(closed_port_url):
    provider = make_provider("ollama", host=closed_port_url)
    expect_error("unavailable", provider.complete, PROMPT, model="m", temperature=0.1, max_tokens=8, timeout_s=2)
    ok, reason = provider.available()
    assert not ok and "cannot connect" in reason


def test_ollama_availability(ollama_server):
    assert make_provider("ollama", host=ollama_server.url, model="qwen2.5-coder:7b").available()[0]
    assert make_provider("ollama", host=ollama_server.url, model="llama3:latest").available()[0]
    ok, reason = make_provider("ollama", host=ollama_server.url, model="dse-specialist").available()
    assert not ok and "dse-specialist" in reason and "pull" in reason
    assert ollama_server.requests[-1].path == "/api/tags"


def test_ollama_create_makes_a_model_available(ollama_server):
    provider = make_provider("ollama", host=ollama_server.url, model="dse-specialist")
    assert not provider.available()[0]
    assert provider.create("dse-specialist", from_="qwen2.5-coder:7b", system="Only code.") == "success"
    sent = ollama_server.requests[-1]
    assert sent.path == "/api/create" and sent.body["from"] == "qwen2.5-coder:7b"
    assert provider.available()[0]


# -- Anthropic ------------------------------------------------------------------

def anthropic_call(server, model="claude-sonnet-5-5", key="test-key", timeout_s=5.0, temperature=None):
    provider = make_provider("anthropic", api_key=key, base_url=server.url)
    return provider.complete(PROMPT, model=model, temperature=temperature, max_tokens=64, timeout_s=timeout_s)


def test_anthropic_success_tokens_cost_and_request(anthropic_server):
    anthropic_server.reply = "def add(a, b):\n    return a + b\n"
    t = tier("anthropic", "claude-sonnet-5-5", temperature=None,
             options={"api_key": "test-key", "base_url": anthropic_server.url})
    done = complete_tier(provider_for_tier(t), t, PROMPT, temperature=0.7)
    assert done.text.startswith("def add(a, b):")
    assert (done.input_tokens, done.output_tokens) == (31, 17)
    assert done.cost_usd == pytest.approx(price(t, 31, 17)) == pytest.approx((31 * 2 + 17 * 10) / 1e6)
    assert t.paid and done.provider == "anthropic" and done.model == "claude-sonnet-5-5"
    sent = anthropic_server.requests[-1]
    assert FakeAnthropic.presented_key(sent.headers) == "test-key" and "anthropic-version" in sent.headers
    assert sent.body["system"] == "You write Python."
    assert sent.body["messages"] == [{"role": "user", "content": "Write add(a, b)."}]
    assert sent.body["max_tokens"] == 64
    assert "temperature" not in sent.body  # the tier takes none (Sonnet 5.x answers 400 to it)


def test_anthropic_sends_temperature_when_given_and_skips_thinking_blocks(anthropic_server):
    anthropic_server.push(Reply(body=anthropic_server.message_body("the answer", thinking="hmm")))
    done = anthropic_call(anthropic_server, temperature=0.5)
    assert done.text == "the answer"
    assert anthropic_server.requests[-1].body["temperature"] == 0.5


def test_anthropic_key_and_base_url_from_env(anthropic_server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_server.url)
    provider = make_provider("anthropic")
    assert provider.available()[0]
    done = provider.complete(PROMPT, model="claude-sonnet-5-5", temperature=None, max_tokens=8, timeout_s=5)
    assert done.text == "ok"


def test_anthropic_wrong_key_is_http_401(anthropic_server):
    err = expect_error("http", anthropic_call, anthropic_server, key="wrong")
    assert err.status == 401 and "authentication_error" in str(err)


@pytest.mark.parametrize("status,err_type", [(400, "invalid_request_error"), (429, "rate_limit_error"),
                                             (500, "api_error"), (529, "overloaded_error")])
def test_anthropic_http_errors_without_retries(anthropic_server, status, err_type):
    anthropic_server.push(FakeAnthropic.error_reply(status, err_type, f"boom {status}"))
    err = expect_error("http", anthropic_call, anthropic_server)
    assert err.status == status and err_type in str(err) and f"boom {status}" in str(err)
    assert len(anthropic_server.requests) == 1  # max_retries=0


def test_anthropic_plain_404_is_not_an_unknown_model(anthropic_server):
    # e.g. a base_url pointing at the wrong server: not the API's not_found_error
    anthropic_server.push(Reply(status=404, body="404 page not found", content_type="text/plain"))
    err = expect_error("http", anthropic_call, anthropic_server)
    assert err.status == 404 and "404 page not found" in str(err)


def test_anthropic_unknown_model(anthropic_server):
    err = expect_error("unknown_model", anthropic_call, anthropic_server, model="claude-nope")
    assert "claude-nope" in str(err)


def test_anthropic_timeout(anthropic_server):
    anthropic_server.push(Reply(body={}, delay_s=3))
    expect_error("timeout", anthropic_call, anthropic_server, timeout_s=0.4)
    assert len(anthropic_server.requests) == 1


@pytest.mark.parametrize("reply", [
    Reply(body="upstream said no", content_type="text/plain"),
    Reply(body="{not json", content_type="application/json"),
    Reply(body={"type": "message", "content": "a string, not blocks"}),
    Reply(body={"id": "x", "type": "message", "content": [{"type": "text", "text": "hi"}]}),  # no usage
])
def test_anthropic_garbage_body(anthropic_server, reply):
    anthropic_server.push(reply)
    expect_error("malformed", anthropic_call, anthropic_server)


def test_anthropic_connection_refused(closed_port_url):
    provider = make_provider("anthropic", api_key="k", base_url=closed_port_url)
    expect_error("unavailable", provider.complete, PROMPT, model="m", temperature=None, max_tokens=8, timeout_s=2)


def test_anthropic_without_key_is_unavailable_and_sends_nothing(anthropic_server):
    provider = make_provider("anthropic", base_url=anthropic_server.url)
    ok, reason = provider.available()
    assert not ok and "ANTHROPIC_API_KEY" in reason
    expect_error("unavailable", provider.complete, PROMPT, model="claude-sonnet-5-5", temperature=None,
                 max_tokens=8, timeout_s=2)
    assert anthropic_server.requests == []


# -- Scripted -------------------------------------------------------------------

def test_scripted_replies_records_and_prices():
    boom = ProviderError("timeout", "scripted timeout", provider="scripted")
    provider = ScriptedProvider(["first", boom, "x" * 400])
    t = tier("scripted", "script-1")
    assert complete_tier(provider, t, PROMPT, temperature=0.4).text == "first"
    with pytest.raises(ProviderError) as info:
        complete_tier(provider, t, PROMPT)
    assert info.value is boom
    done = complete_tier(provider, t, PROMPT)
    assert done.output_tokens == 100 and done.cost_usd == pytest.approx(price(t, done.input_tokens, 100))
    assert done.cost_usd > 0
    assert [c.temperature for c in provider.calls] == [0.4, 0.3, 0.3]
    assert provider.calls[0].messages == PROMPT and provider.calls[0].model == "script-1"
    with pytest.raises(ProviderError) as info:
        provider.complete(PROMPT, model="m", temperature=0.1, max_tokens=8, timeout_s=1)
    assert info.value.kind == "unavailable" and "exhausted" in str(info.value)


def test_scripted_callable_sees_the_prompt():
    provider = make_provider("scripted", replies=lambda msgs, temp, model: f"{model}@{temp}: {msgs[-1].content}")
    done = provider.complete(PROMPT, model="m", temperature=0.2, max_tokens=8, timeout_s=1)
    assert isinstance(done, Completion) and done.text == "m@0.2: Write add(a, b)."


def test_provider_error_rejects_unknown_kind_and_registry_unknown_name():
    with pytest.raises(ValueError):
        ProviderError("weird", "x")
    long = ProviderError("http", "<html>\n" + "x" * 5000, provider="p")
    assert "\n" not in str(long) and len(str(long)) < 300
    with pytest.raises(ValueError, match="unknown provider 'gpt'"):
        make_provider("gpt")


# -- Ladder ---------------------------------------------------------------------

def test_shipped_ladder_matches_the_paper():
    ladder = load_ladder_config()
    assert [t.name for t in ladder.tiers] == ["fast", "balanced", "powerful", "specialist"]
    assert [t.provider for t in ladder.tiers] == ["embedded", "ollama", "anthropic", "ollama"]
    assert [t.paid for t in ladder.tiers] == [False, False, True, False]
    powerful = ladder.tier("powerful")
    assert powerful.model.startswith("claude-sonnet") and powerful.price_out_per_mtok > powerful.price_in_per_mtok > 0
    assert ladder.max_attempts == 4 and ladder.temperature_schedule == [0.2, 0.4, 0.6, 0.8]
    fast = ladder.tier("fast")
    assert [ladder.temperature_for(fast, a) for a in range(5)] == [0.2, 0.4, 0.6, 0.8, 0.8]
    assert ladder.temperature_for(powerful, 2) is None
    assert load_ladder() == ladder.tiers


def write(tmp_path, text: str, name="models.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD_TIER = """\
  - name: fast
    provider: scripted
    model: m
    temperature: 0.2
    max_tokens: 16
    timeout_s: 1
"""


@pytest.mark.parametrize("text,expected", [
    ("tiers: []\n", "tiers: expected a non-empty list"),
    ("tiers:\n" + GOOD_TIER.replace("    timeout_s: 1\n", ""), "tiers[0].timeout_s: missing"),
    ("tiers:\n" + GOOD_TIER.replace("timeout_s: 1", "timeout_s: soon"), "tiers[0] (fast).timeout_s: expected a number > 0, got 'soon'"),
    ("tiers:\n" + GOOD_TIER.replace("max_tokens: 16", "max_tokens: 0"), "tiers[0] (fast).max_tokens: expected an integer >= 1"),
    ("tiers:\n" + GOOD_TIER.replace("provider: scripted", "provider: gpt"), "tiers[0] (fast).provider: unknown provider 'gpt'"),
    ("tiers:\n" + GOOD_TIER + GOOD_TIER, "tiers[1] (fast).name: duplicate tier name"),
    ("tiers:\n" + GOOD_TIER + "    colour: red\n", "tiers[0].colour: unknown key"),
    ("max_attempts: two\ntiers:\n" + GOOD_TIER, "max_attempts: expected an integer >= 1"),
    ("temprature_schedule: [0.1]\ntiers:\n" + GOOD_TIER, "unknown key 'temprature_schedule'"),
    ("tiers: [\n", "not valid YAML"),
    ("tiers:\n" + GOOD_TIER + "    options: {num_ctx: 8192}\n", "tiers[0] (fast).options.num_ctx: not an option of scripted"),
    ("daily_budget_usd: -1\ntiers:\n" + GOOD_TIER, "daily_budget_usd: expected a number >= 0"),
])
def test_ladder_validation_names_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(LadderConfigError) as info:
        load_ladder(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_a_broken_ladder_is_bad_input_for_the_cli(tmp_path, monkeypatch):
    from dse_tui.cli import main

    monkeypatch.setenv("DSE_MODELS_FILE", str(write(tmp_path, "tiers:\n  - name: balanced\n    options: {num_ctx: 1}\n", name="user.yaml")))
    monkeypatch.setenv("DSE_HOME", str(tmp_path / "home"))
    spec = tmp_path / "add.yaml"
    spec.write_text("function: add\ndescription: add\nbehaviors:\n  - behavior: adds\n    given: {a: 1, b: 2}\n    then: {result_equals: 3}\n")
    assert main(["ask", "add two numbers", "--spec", str(spec)]) == 2  # one line, no traceback
    assert main(["models"]) == 1


def test_ladder_missing_file(tmp_path):
    with pytest.raises(LadderConfigError, match="file not found"):
        load_ladder(tmp_path / "absent.yaml")


def test_user_file_overrides_fields_and_appends_tiers(tmp_path, monkeypatch):
    user = write(tmp_path, """\
        temperature_schedule: [0.1]
        tiers:
          - name: balanced
            model: qwen2.5-coder:14b
            options: {host: "http://gpu-box:11434"}
          - name: extra
            provider: scripted
            model: s
            temperature: 0
            max_tokens: 8
            timeout_s: 1
    """, name="user.yaml")
    monkeypatch.setenv("DSE_MODELS_FILE", str(user))
    ladder = load_ladder_config()
    balanced = ladder.tier("balanced")
    assert balanced.model == "qwen2.5-coder:14b" and balanced.timeout_s == 180
    assert balanced.options == {"host": "http://gpu-box:11434"}
    assert [t.name for t in ladder.tiers][-1] == "extra" and ladder.temperature_schedule == [0.1]
    assert [t.name for t in load_ladder(user=False)] == ["fast", "balanced", "powerful", "specialist"]
    write(tmp_path, "tiers:\n  - name: balanced\n    timeout_s: -1\n", name="user.yaml")
    with pytest.raises(LadderConfigError, match="user.yaml.*balanced.*timeout_s"):
        load_ladder()


# -- Import cost ----------------------------------------------------------------

def test_providers_import_no_sdk_and_no_textual():
    code = (
        "import sys\n"
        "from dse_tui.engine.generation.providers import make_provider, load_ladder\n"
        "load_ladder(user=False)\n"
        "for n in ('embedded', 'ollama', 'anthropic', 'scripted'): make_provider(n)\n"
        "make_provider('anthropic').available(); make_provider('embedded').available()\n"
        "print(sorted(m for m in ('anthropic', 'ollama', 'llama_cpp', 'httpx', 'textual') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- Embedded (real SmolLM2) ----------------------------------------------------

def test_embedded_unknown_model_file():
    provider = make_provider("embedded")
    ok, reason = provider.available("no-such-model.gguf")
    assert not ok and "no-such-model" in reason
    expect_error("unknown_model", provider.complete, PROMPT, model="no-such-model.gguf",
                 temperature=0.1, max_tokens=8, timeout_s=1)


@pytest.mark.slow
def test_embedded_smollm2_writes_a_function():
    ladder = load_ladder_config(user=False)
    fast = ladder.tier("fast")
    provider = provider_for_tier(fast)
    ok, reason = provider.available()
    if not ok:
        pytest.skip(f"embedded tier unavailable: {reason}")
    messages = [Message("system", "You are a Python coding assistant. Reply with code only."),
                Message("user", "Write a Python function add(a, b) that returns the sum of a and b.")]
    done = complete_tier(provider, fast, messages)
    assert "def" in done.text, done.text
    assert done.input_tokens > 0 and done.output_tokens > 0 and done.cost_usd == 0.0
    assert done.provider == "embedded" and done.latency_ms < 30_000
    # the deadline is checked per generated token: a tiny timeout ends generation at once
    with pytest.raises(ProviderError) as info:
        provider.complete(messages, model=fast.model, temperature=0.2, max_tokens=400, timeout_s=0.001)
    assert info.value.kind == "timeout"
    # cancel is checked at every generated token: set, the first one ends the reply
    cancel = threading.Event()
    cancel.set()
    started = time.perf_counter()
    with pytest.raises(ProviderError) as info:
        provider.complete(messages, model=fast.model, temperature=0.2, max_tokens=400, timeout_s=120, cancel=cancel)
    assert info.value.kind == "cancelled" and "cancelled after 0 tokens" in str(info.value)
    assert time.perf_counter() - started < 20


def test_the_scripted_provider_is_for_tests_only(tmp_path, monkeypatch):
    spec = "tiers:\n  - {name: fast, provider: scripted, model: m, temperature: 0.2, max_tokens: 10, timeout_s: 1}\n"
    path = write(tmp_path, spec)
    assert load_ladder(path, user=False)[0].provider == "scripted"  # the suite registers it
    monkeypatch.delenv("DSE_TEST_PROVIDERS")
    with pytest.raises(LadderConfigError, match="unknown provider 'scripted' .known: embedded, ollama, anthropic"):
        load_ladder(path, user=False)
