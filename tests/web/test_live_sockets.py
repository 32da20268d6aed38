"""Live-guess sockets under `digitpad serve`: a socket outlives the limits on a request's head and on idle
HTTP connections, and a message far over the body limit closes it (1009) without harm to the server."""

from __future__ import annotations

import json
import struct
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests import servers
from tests.factories import digit_png
from tests.web.live import HEAD_TIMEOUT, KEEP_ALIVE_TIMEOUT, MiB, assert_still_answers

MESSAGE_TOO_BIG = 1009


def test_a_socket_outlives_the_head_and_keep_alive_limits(live_server: servers.Server) -> None:
    with connect(f"ws://{servers.HOST}:{live_server.port}/api/predict/live?activations=false") as socket:
        socket.send(digit_png(7))
        assert json.loads(socket.recv(timeout=10))["prediction"] == 7
        time.sleep(max(HEAD_TIMEOUT, KEEP_ALIVE_TIMEOUT) + 1)
        socket.send(digit_png(3))
        assert json.loads(socket.recv(timeout=10))["prediction"] == 3


def test_a_message_far_over_the_body_limit_closes_the_socket(live_server: servers.Server) -> None:
    with connect(f"ws://{servers.HOST}:{live_server.port}/api/predict/live", max_size=None) as socket:
        socket.send(b"\0" * (3 * MiB))  # the default limit is 2 MiB: over it, answered as too large
        answer = json.loads(socket.recv(timeout=10))
        assert (answer["status"], answer["code"]) == (413, "payload_too_large")
        # Over twice the limit: refused from the frame's header alone. Only the head of such a message is
        # sent, so the server has nothing unread when it closes: a socket closed with unread data is reset,
        # and the client may never see the close frame.
        socket.socket.sendall(_frame_head(5 * MiB) + b"\0" * 4096)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == MESSAGE_TOO_BIG
    assert_still_answers(live_server)


def _frame_head(length: int) -> bytes:
    """A client's binary frame header (RFC 6455, 5.2) for a payload of `length` bytes, masked with zeros."""
    return bytes([0x82, 0x80 | 127]) + struct.pack("!Q", length) + b"\0\0\0\0"
