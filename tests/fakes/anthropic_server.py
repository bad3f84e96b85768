"""Loopback fake of the Anthropic Messages API: POST /v1/messages.

Replies use the real shapes: a `message` object with content blocks and
usage; errors as {"type": "error", "error": {"type": ..., "message": ...}}.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable

from .loopback import LoopbackServer, Reply

_ids = itertools.count(1)


class FakeAnthropic(LoopbackServer):
    def __init__(self, api_key: str = "test-key", models: list[str] | None = None,
                 reply: str | Callable[[dict], str] = "ok"):
        super().__init__()
        self.api_key = api_key
        self.models = list(models if models is not None else ["claude-sonnet-5-5"])
        self.reply = reply
        self.input_tokens = 31
        self.output_tokens = 17

    def message_body(self, text: str, model: str = "claude-sonnet-5-5", *, thinking: str | None = None) -> dict:
        content = [{"type": "text", "text": text}]
        if thinking is not None:  # newer models may open with a thinking block
            content.insert(0, {"type": "thinking", "thinking": thinking, "signature": "sig"})
        return {
            "id": f"msg_01Fake{next(_ids):06d}",
            "type": "message",
            "role": "assistant",
            "content": content,
            "model": model,
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        }

    @staticmethod
    def error_reply(status: int, err_type: str, message: str) -> Reply:
        return Reply(status=status, body={"type": "error", "error": {"type": err_type, "message": message},
                                          "request_id": "req_fake"},
                     headers={"request-id": "req_fake"})

    @staticmethod
    def presented_key(headers: dict[str, str]) -> str | None:
        # the API documents x-api-key; SDK 2.x sends the key as a Bearer token
        bearer = headers.get("authorization", "")
        return headers.get("x-api-key") or (bearer[7:] if bearer.startswith("Bearer ") else None)

    def route(self, method, path, body, headers) -> Reply:
        if method != "POST" or path != "/v1/messages":
            return self.error_reply(404, "not_found_error", f"no route {method} {path}")
        if self.presented_key(headers) != self.api_key:
            return self.error_reply(401, "authentication_error", "invalid x-api-key")
        if not isinstance(body, dict) or not body.get("messages") or "max_tokens" not in body:
            return self.error_reply(400, "invalid_request_error", "messages and max_tokens are required")
        if body.get("model") not in self.models:
            return self.error_reply(404, "not_found_error", f"model: {body.get('model')}")
        text = self.reply(body) if callable(self.reply) else self.reply
        return Reply(body=self.message_body(text, body["model"]), headers={"request-id": "req_fake"})
