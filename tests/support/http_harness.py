"""One harness for the local HTTP servers that tests drive real clients against (SDKs, ccxt, httpx).

`HttpHarness` binds a `ThreadingHTTPServer` on 127.0.0.1 with an ephemeral port, serves it from a daemon
thread, and routes every request (any method) to `respond(exchange)`. By default `respond` dispatches on
the routes registered with `route(method, pattern, handler)`: the first route whose method matches and whose
regular expression matches the whole path (query excluded) wins; its named groups land in
`exchange.params`. A path no route matches goes to `not_found`, which subclasses override to answer in the
emulated API's own error shape.

`Exchange` is one request and its response: parsed path/query/headers, the body (bytes or JSON), and the
response primitives emulators need: a JSON or raw body, a chunked stream (server-sent events), a body cut
short after its headers promised all of it, and a hard connection cut.

Shutdown (`stop`, or leaving the `with` block) behaves like a dying process: stop accepting, cut every open
keep-alive connection, join the serving thread. An exception raised by a handler is recorded in `errors`
(tests can assert it is empty) and the connection is cut, so a bug in an emulator never hangs a client.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

JSON_TYPE = "application/json"


class Exchange:
    """One HTTP request and the means to answer it (on the server's handler thread)."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.received_at = time.monotonic()  # the request line and headers have just been read
        self.handler = handler
        self.method: str = handler.command
        self.target: str = handler.path  # path plus query, as sent
        parts = urlsplit(handler.path)
        self.path: str = parts.path
        self.query_items: list[tuple[str, str]] = parse_qsl(parts.query, keep_blank_values=True)
        self.query: dict[str, str] = dict(self.query_items)  # a repeated key keeps its last value
        self.headers: dict[str, str] = {k.lower(): v for k, v in handler.headers.items()}
        self.params: dict[str, str] = {}  # named groups of the matching route
        self._body: bytes | None = None

    # -- request -------------------------------------------------------------------------------------------------
    def body(self) -> bytes:
        """The request body (read once, by Content-Length; empty without one)."""
        if self._body is None:
            n = int(self.headers.get("content-length") or 0)
            self._body = self.handler.rfile.read(n) if n else b""
        return self._body

    def json(self) -> Any:
        """The body parsed as JSON; an empty body is `{}`."""
        return json.loads(self.body() or b"{}")

    # -- response ------------------------------------------------------------------------------------------------
    def send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None,
                   *, truncate_to: int | None = None) -> None:
        """Answer with `body`. With `truncate_to`, the headers still promise the whole body but only its first
        `truncate_to` bytes are sent and the connection is closed (a response dropped mid-transfer)."""
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body if truncate_to is None else body[:truncate_to])
        h.wfile.flush()
        if truncate_to is not None:
            h.close_connection = True

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None, *,
                  content_type: str = JSON_TYPE, compact: bool = False) -> None:
        """Answer with `payload` as JSON (`compact`: no spaces after separators, like many real APIs)."""
        self.send_bytes(status, json_bytes(payload, compact=compact), content_type, headers)

    def start_stream(self, status: int = 200, content_type: str = "text/event-stream",
                     headers: dict[str, str] | None = None) -> None:
        """Start a chunked (Transfer-Encoding: chunked) response; follow with `chunk` and `end_stream`."""
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()

    def chunk(self, data: bytes) -> None:
        """Send one chunk of a started stream (flushed at once, so the client sees it now)."""
        self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.handler.wfile.flush()

    def end_stream(self) -> None:
        """End a started stream cleanly (the terminating zero-length chunk)."""
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()

    def cut(self) -> None:
        """Cut the connection now, like a reset: no more bytes, whatever was promised."""
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)


Handler = Callable[[Exchange], None]


def json_bytes(payload: Any, *, compact: bool = False) -> bytes:
    """`payload` encoded as a JSON body (`compact`: `,`/`:` separators without spaces)."""
    return (json.dumps(payload, separators=(",", ":")) if compact else json.dumps(payload)).encode()


@dataclass(frozen=True)
class Route:
    method: str  # "GET", "POST", ... or "*" for any
    pattern: re.Pattern[str]  # matched against the whole path
    handler: Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients closing keep-alive connections, and our own deliberate cuts, are not errors; handler
        # exceptions are recorded by the harness before they get here.
        return None


class HttpHarness:
    """A local HTTP server for tests; subclass it (override `respond` or `not_found`) or register routes."""

    thread_name = "http-test-server"

    def __init__(self) -> None:
        self.errors: list[BaseException] = []  # exceptions raised by handlers, in order
        self._routes: list[Route] = []
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- routing -------------------------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Send `method` requests (`"*"`: any) whose whole path matches regex `pattern` to `handler`."""
        self._routes.append(Route(method.upper(), re.compile(pattern), handler))

    def respond(self, ex: Exchange) -> None:
        """Answer one request: the first matching route, else `not_found`."""
        for r in self._routes:
            if r.method not in ("*", ex.method):
                continue
            m = r.pattern.fullmatch(ex.path)
            if m is not None:
                ex.params = {k: v for k, v in m.groupdict().items() if v is not None}
                r.handler(ex)
                return
        self.not_found(ex)

    def not_found(self, ex: Exchange) -> None:
        """The answer for a path no route matches (override for the emulated API's error shape)."""
        ex.send_json(404, {"error": "not_found", "path": ex.path})

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Bind 127.0.0.1 on an ephemeral port and serve from a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._httpd = _Server(("127.0.0.1", 0), _handler_class(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop like a dying process: stop accepting, cut every open (keep-alive) connection, join the thread.
        Idempotent."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._httpd = self._thread = None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- plumbing ------------------------------------------------------------------------------------------------
    def _track(self, conn: socket.socket, open_: bool) -> None:
        with self._conns_lock:
            (self._conns.add if open_ else self._conns.discard)(conn)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        ex = Exchange(handler)
        try:
            self.respond(ex)
        except (ConnectionError, TimeoutError):
            handler.close_connection = True  # the client went away mid-response
        except Exception as e:  # recorded for the test to see, never swallowed silently
            self.errors.append(e)
            ex.cut()


def _handler_class(owner: HttpHarness) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            return None

        def setup(self) -> None:
            super().setup()
            owner._track(self.connection, True)

        def finish(self) -> None:
            owner._track(self.connection, False)
            with contextlib.suppress(OSError):
                super().finish()

        def _dispatch(self) -> None:
            owner._serve(self)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    return _Handler
