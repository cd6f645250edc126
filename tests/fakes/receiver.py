"""A local webhook receiver: records every request (headers and raw body, as a signature check needs them) and
answers what the test scripted for its path, in turn (status, extra headers), else 200."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._answers: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"fake": self}))
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        with self._lock:
            self._answers.setdefault(path, []).extend([(status, headers or {})] * times)

    def _next(self, path: str) -> tuple[int, dict[str, str]]:
        with self._lock:
            queued = self._answers.get(path)
            return queued.pop(0) if queued else (200, {})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, extra = self.fake._next(self.path)
        with self.fake._lock:
            self.fake.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status)
            )
        reply = b'{"ok": true}' if status < 300 else b'{"error": "scripted"}'
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
