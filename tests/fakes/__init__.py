"""Loopback fakes of the LLM HTTP APIs (no network: 127.0.0.1 only)."""
from .anthropic_server import FakeAnthropic
from .loopback import LoopbackServer, Reply, Request
from .ollama_server import FakeOllama

__all__ = ["FakeAnthropic", "FakeOllama", "LoopbackServer", "Reply", "Request"]
