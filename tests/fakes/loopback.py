"""A tiny threaded HTTP server on 127.0.0.1 (ephemeral port) for API fakes.

Subclasses implement `route(method, path, body) -> Reply`. Tests steer the
next replies with `push(Reply(...))`; every request is recorded.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None            # dict/list -> JSON; str/bytes sent as is
    content_type: str = "application/json"
    delay_s: float = 0.0        # sleep before answering (timeouts)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any                   # parsed JSON, or raw text when not JSON


class LoopbackServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- test controls ------------------------------------------------------
    def push(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order, before routing."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Reply:
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> "LoopbackServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                path = self.path.split("?")[0]
                with server._lock:
                    server.requests.append(Request(self.command, path, headers, body))
                    reply = server._queue.pop(0) if server._queue else None
                if reply is None:
                    reply = server.route(self.command, path, body, headers)
                if reply.delay_s and server._stopping.wait(reply.delay_s):
                    return
                data = reply.body
                if isinstance(data, (dict, list)):
                    data = json.dumps(data)
                if isinstance(data, str):
                    data = data.encode()
                data = data or b""
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = do_DELETE = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False  # a handler sleeping for a timeout test must not block stop()

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=2)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
