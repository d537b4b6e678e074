"""The shared HTTP test harness: routing, JSON and raw bodies, streams, cut responses, clean shutdown."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.support.http_harness import Exchange, HttpHarness


class Echo(HttpHarness):
    def __init__(self) -> None:
        super().__init__()
        self.route("POST", r"/items/(?P<item>[a-z]+)", self._post)
        self.route("GET", r"/stream", self._stream)
        self.route("GET", r"/short", self._short)
        self.route("GET", r"/boom", self._boom)
        self.route("*", r"/any", lambda ex: ex.send_json(200, {"method": ex.method, "q": ex.query}))

    def _post(self, ex: Exchange) -> None:
        ex.send_json(201, {"item": ex.params["item"], "body": ex.json(), "auth": ex.headers.get("x-key")},
                     {"X-Seen": "1"})

    def _stream(self, ex: Exchange) -> None:
        ex.start_stream()
        for part in (b"data: 1\n\n", b"data: 2\n\n"):
            ex.chunk(part)
        ex.end_stream()

    def _short(self, ex: Exchange) -> None:
        ex.send_bytes(200, b"0123456789", "text/plain", truncate_to=4)

    def _boom(self, ex: Exchange) -> None:
        raise ValueError("emulator bug")


def _conn(srv: HttpHarness) -> http.client.HTTPConnection:
    host, port = srv.url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=5)


def test_routes_json_headers_and_not_found() -> None:
    with Echo() as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        c = _conn(srv)
        c.request("POST", "/items/abc", body=json.dumps({"x": [1, 2]}), headers={"X-Key": "k"})
        r = c.getresponse()
        assert (r.status, r.getheader("X-Seen")) == (201, "1")
        assert json.loads(r.read()) == {"item": "abc", "body": {"x": [1, 2]}, "auth": "k"}
        # Same keep-alive connection: a method the route does not accept, then a wildcard route with a query.
        c.request("GET", "/items/abc")
        r = c.getresponse()
        assert (r.status, json.loads(r.read())) == (404, {"error": "not_found", "path": "/items/abc"})
        c.request("DELETE", "/any?a=1&a=2&b=")
        assert json.loads(c.getresponse().read()) == {"method": "DELETE", "q": {"a": "2", "b": ""}}
        # A pattern matches the whole path, never a prefix.
        c.request("POST", "/items/abc/extra", body=b"{}")
        assert c.getresponse().status == 404
        assert srv.errors == []


def test_chunked_stream_and_truncated_body() -> None:
    with Echo() as srv:
        c = _conn(srv)
        c.request("GET", "/stream")
        r = c.getresponse()
        assert r.getheader("Transfer-Encoding") == "chunked"
        assert r.read() == b"data: 1\n\ndata: 2\n\n"
        c2 = _conn(srv)
        c2.request("GET", "/short")
        with pytest.raises(http.client.IncompleteRead) as e:
            c2.getresponse().read()
        assert e.value.partial == b"0123"


def test_handler_exception_is_recorded_and_cuts_the_connection() -> None:
    with Echo() as srv:
        c = _conn(srv)
        c.request("GET", "/boom")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            c.getresponse()
        assert [type(e) for e in srv.errors] == [ValueError]


def test_stop_cuts_keepalive_connections_and_frees_the_port() -> None:
    srv = Echo()
    srv.start()
    c = _conn(srv)
    c.request("DELETE", "/any")
    assert c.getresponse().read()
    srv.stop()
    srv.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = srv.url
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        c.request("DELETE", "/any")
        c.getresponse()
