"""A scriptable HTTP server on 127.0.0.1 (port 0) that records every request.

Routes map ``(method, path)`` to a ``Reply`` or to a callable taking the
``Recorded`` request and returning a ``Reply``. Query strings are not part of
the path key; handlers can read ``request.query``. Unknown paths get 404.

    server = FakeHTTPServer()
    server.route("GET", "/feed.xml", Reply(200, FEED, {"Content-Type": "application/rss+xml"}))
    with server:
        ... server.url("/feed.xml") ...
    assert server.requests[0].headers["User-Agent"].startswith("briefbot")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    chunks: list[bytes] | None = None  # streamed body without Content-Length

    def encoded(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Recorded], Reply]


class FakeHTTPServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Reply | Handler] = {}
        self.requests: list[Recorded] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def route(self, method: str, path: str, reply: Reply | Handler) -> None:
        self.routes[(method.upper(), path)] = reply

    def url(self, path: str = "/") -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    @property
    def base_url(self) -> str:
        return self.url("")

    def start(self) -> FakeHTTPServer:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(
                    self.command,
                    split.path,
                    parse_qs(split.query),
                    dict(self.headers.items()),
                    body,
                )
                fake.requests.append(rec)
                target = fake.routes.get((self.command, split.path))
                if target is None:
                    reply = Reply(404, b"not found", {"Content-Type": "text/plain"})
                elif isinstance(target, Reply):
                    reply = target
                else:
                    reply = target(rec)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    if reply.chunks is not None:
                        self.send_header("Connection", "close")
                        self.end_headers()
                        for chunk in reply.chunks:
                            self.wfile.write(chunk)
                            self.wfile.flush()
                        self.close_connection = True
                        return
                    data = b"" if self.command == "HEAD" else reply.encoded()
                    self.send_header("Content-Length", str(len(reply.encoded())))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
