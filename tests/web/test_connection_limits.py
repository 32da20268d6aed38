"""A connection's limits on real sockets, under `digitpad serve`: the size and arrival time of a request's
line and headers, and how long an idle connection stays open."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from tests import servers
from tests.web.live import (
    HEAD_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    MiB,
    assert_still_answers,
    connect,
    read_response,
)


def test_an_idle_keep_alive_connection_is_closed(live_server: servers.Server) -> None:
    with connect(live_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_response(sock)[0] == 200
        started = time.monotonic()
        assert sock.recv(1) == b""  # the server closes the idle connection after its keep-alive timeout
        assert time.monotonic() - started < KEEP_ALIVE_TIMEOUT + 3


def test_a_url_over_the_head_limit_is_refused(live_server: servers.Server) -> None:
    with connect(live_server) as sock:
        sock.sendall(b"GET /healthz?" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, headers, body = read_response(sock)
        assert (status, body["code"]) == (431, "request_header_too_large")
        assert headers["connection"] == "close" and headers["x-content-type-options"] == "nosniff"
    assert_still_answers(live_server)


def test_an_endless_header_is_cut_off(live_server: servers.Server) -> None:
    """httptools would buffer one header as long as it grows: the server stops reading at the head limit."""
    sent = 0
    with connect(live_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Endless: ")
        try:
            while sent < 64 * MiB:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        assert sent < 32 * MiB
    assert_still_answers(live_server)


def test_a_connection_that_sends_nothing_is_closed(live_server: servers.Server) -> None:
    with connect(live_server) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert HEAD_TIMEOUT - 0.2 < time.monotonic() - started < HEAD_TIMEOUT + 3


@pytest.mark.slow
def test_headers_sent_slowly_are_timed_out(live_server: servers.Server) -> None:
    with connect(live_server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        sock.settimeout(0.2)
        with contextlib.suppress(OSError):
            for i in range(100):  # a header every 0.2 s, never the blank line that ends them
                sock.sendall(f"X-Slow-{i}: 1\r\n".encode())
                if sock.recv(1, socket.MSG_PEEK):
                    break
        sock.settimeout(10)
        status, _, body = read_response(sock)
        assert (status, body["code"]) == (408, "request_timeout")
        assert time.monotonic() - started < HEAD_TIMEOUT + 3
    assert_still_answers(live_server)
