"""Loopback fake of the Ollama REST API: /api/chat, /api/tags, /api/create.

Shapes follow the real server (non-streaming replies): errors are
`{"error": "..."}` with an HTTP status; an unknown model is a 404.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .loopback import LoopbackServer, Reply


class FakeOllama(LoopbackServer):
    def __init__(self, models: list[str] | None = None, reply: str | Callable[[dict], str] = "ok"):
        super().__init__()
        self.models = list(models if models is not None else ["qwen2.5-coder:7b"])
        self.reply = reply  # text, or a function of the request body
        self.prompt_eval_count = 26
        self.eval_count = 12

    def chat_reply(self, text: str, model: str = "qwen2.5-coder:7b", **counts) -> Reply:
        return Reply(body=self._chat_body(model, text, **counts))

    @staticmethod
    def error_reply(status: int, message: str) -> Reply:
        return Reply(status=status, body={"error": message})

    def _chat_body(self, model: str, text: str, prompt_eval_count=None, eval_count=None) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
            "message": {"role": "assistant", "content": text},
            "done_reason": "stop",
            "done": True,
            "total_duration": 4_883_583_458,
            "load_duration": 1_334_875,
            "prompt_eval_count": self.prompt_eval_count if prompt_eval_count is None else prompt_eval_count,
            "prompt_eval_duration": 342_546_000,
            "eval_count": self.eval_count if eval_count is None else eval_count,
            "eval_duration": 4_535_599_000,
        }

    def _known(self, model: str) -> bool:
        full = model if ":" in model else f"{model}:latest"
        return full in {m if ":" in m else f"{m}:latest" for m in self.models}

    def route(self, method, path, body, headers) -> Reply:
        if method == "GET" and path == "/api/tags":
            return Reply(body={"models": [
                {"name": m, "model": m, "modified_at": "2025-11-20T10:00:00.000000Z", "size": 4_683_087_332,
                 "digest": "a" * 64, "details": {"format": "gguf", "family": "qwen2",
                                                 "parameter_size": "7.6B", "quantization_level": "Q4_K_M"}}
                for m in self.models]})
        if method == "POST" and path == "/api/chat":
            if not isinstance(body, dict) or "model" not in body:
                return self.error_reply(400, "model is required")
            if not self._known(body["model"]):
                return self.error_reply(404, f"model \"{body['model']}\" not found, try pulling it first")
            text = self.reply(body) if callable(self.reply) else self.reply
            return Reply(body=self._chat_body(body["model"], text))
        if method == "POST" and path == "/api/create":
            base = (body or {}).get("from")
            if base and not self._known(base):
                return self.error_reply(404, f"model \"{base}\" not found")
            self.models.append(body["model"])
            return Reply(body={"status": "success"})
        return Reply(status=404, body="404 page not found", content_type="text/plain")
