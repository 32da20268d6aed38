"""A live `digitpad serve` with short time limits, and raw-socket helpers, for the tests that need real
sockets: a Content-Length over the limit is refused before the body is sent, a chunked body is cut off as
it passes the limit, and a body or a head that trickles in is timed out."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx

from tests import servers
from tests.servers import HOST

BODY_TIMEOUT = 1.5  # seconds, short so the slow-body cases stay quick
KEEP_ALIVE_TIMEOUT = 1
HEAD_TIMEOUT = 1.5
MiB = 1024 * 1024
ENV = {
    "DIGITPAD_BODY_TIMEOUT": str(BODY_TIMEOUT),
    "DIGITPAD_KEEP_ALIVE_TIMEOUT": str(KEEP_ALIVE_TIMEOUT),
    "DIGITPAD_HEAD_TIMEOUT": str(HEAD_TIMEOUT),
    "DIGITPAD_LOG_LEVEL": "warning",
}


def assert_still_answers(live_server: servers.Server) -> None:
    assert live_server.process.poll() is None, "the server died"
    response = httpx.get(f"{live_server.url}/api/models", timeout=10)  # a fresh connection
    assert response.status_code == 200
    assert response.json()["default"] == "cnn"


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The status, headers and JSON body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body)


def connect(server: servers.Server, timeout: float = 10) -> socket.socket:
    sock = socket.create_connection((HOST, server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_head(path: str, content_type: str, extra: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n{extra}\r\n".encode()
