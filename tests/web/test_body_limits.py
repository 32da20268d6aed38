"""A request body's limits on real sockets: its size, counted from the Content-Length and while it streams,
the time it may take to arrive, and the pixels a batch may decode."""

from __future__ import annotations

import base64
import socket
import time

import httpx
import pytest

from app.web.middleware import DRAIN_BYTES
from tests import servers
from tests.factories import digit_png
from tests.web.live import (
    BODY_TIMEOUT,
    MiB,
    assert_still_answers,
    connect,
    read_response,
    request_head,
)


def test_content_length_over_the_limit_is_refused_before_the_body_is_sent(live_server: servers.Server) -> None:
    with connect(live_server) as sock:
        sock.sendall(request_head("/api/predict", "image/png", f"Content-Length: {3 * MiB}\r\n"))
        status, headers, body = read_response(sock)  # no byte of the body has been sent
        assert (status, body["code"]) == (413, "payload_too_large")
        assert headers["connection"] == "close"
        sock.sendall(b"\0" * 3 * MiB)  # a client that writes its body before reading
        assert sock.recv(1) == b""  # is read to the end and then hung up on, not reset
    assert_still_answers(live_server)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_client_that_sends_its_whole_oversized_body_first_still_gets_the_413(live_server, chunked):
    """Most clients write the whole body before reading: the server must not reset the connection under them."""
    body = b"\0" * (3 * MiB)
    content = iter([body[i : i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    response = httpx.post(
        f"{live_server.url}/api/predict", content=content, headers={"Content-Type": "image/png"}, timeout=30
    )
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert_still_answers(live_server)


def test_batch_content_length_over_its_limit_is_refused(live_server: servers.Server) -> None:
    with connect(live_server) as sock:
        sock.sendall(request_head("/api/predict/batch", "application/json", f"Content-Length: {33 * MiB}\r\n"))
        status, _, body = read_response(sock)
        assert (status, body["code"]) == (413, "payload_too_large")
    assert_still_answers(live_server)


@pytest.mark.slow
def test_chunked_body_over_the_limit_is_cut_off_while_streaming(live_server: servers.Server) -> None:
    chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
    sent = 0
    with connect(live_server) as sock:
        sock.sendall(request_head("/api/predict", "image/png", "Transfer-Encoding: chunked\r\n"))
        try:
            while sent < 256 * MiB:
                sock.sendall(chunk)
                sent += 65536
        except OSError:  # the server closed the connection with most of the body unsent
            pass
        status, _, body = read_response(sock)
    assert (status, body["code"]) == (413, "payload_too_large")
    # The server reads at most DRAIN_BYTES past the limit, and loopback socket buffers take a few MiB more;
    # 256 MiB would mean it read everything.
    assert sent < 2 * MiB + DRAIN_BYTES + 32 * MiB
    assert_still_answers(live_server)


@pytest.mark.slow
def test_a_body_sent_slowly_is_timed_out(live_server: servers.Server) -> None:
    with connect(live_server) as sock:
        sock.sendall(request_head("/api/predict", "image/png", "Content-Length: 1000\r\n"))
        started = time.monotonic()
        sock.sendall(b"\x89PNG")
        # The client sends nothing more: the server answers 408 once the body timeout has passed.
        status, headers, body = read_response(sock)
        waited = time.monotonic() - started
        assert (status, body["code"]) == (408, "request_timeout")
        assert headers["connection"] == "close"
        assert BODY_TIMEOUT - 0.2 < waited < BODY_TIMEOUT + 5
    assert_still_answers(live_server)


@pytest.mark.slow
def test_a_body_trickled_byte_by_byte_is_timed_out(live_server: servers.Server) -> None:
    """Each byte arrives well within any idle timeout, but the whole body would take a minute."""
    with connect(live_server) as sock:
        sock.sendall(request_head("/api/predict", "image/png", "Content-Length: 600\r\n"))
        started = time.monotonic()
        sock.settimeout(0.1)
        status = None
        while time.monotonic() - started < BODY_TIMEOUT + 5:
            try:
                sock.sendall(b"\0")
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        sock.settimeout(10)
        status, _, body = read_response(sock)
        assert (status, body["code"]) == (408, "request_timeout")
        assert time.monotonic() - started < BODY_TIMEOUT + 5
    assert_still_answers(live_server)


def test_a_batch_decodes_no_more_pixels_than_its_budget(make_client):
    pad = 280 * 280
    with make_client(max_batch_pixels=int(3.5 * pad)) as app_client:
        response = app_client.post(
            "/api/predict/batch", json={"images": [base64.b64encode(digit_png(7)).decode()] * 5 + ["x"]}
        )
    results = response.json()["results"]
    assert response.status_code == 200
    assert [result.get("prediction") for result in results[:3]] == [7, 7, 7]
    for result in results[3:5]:
        assert result["error"]["code"] == "image_too_large"
        assert "another batch" in result["error"]["detail"]
    assert results[5]["error"]["code"] == "invalid_image"  # what is wrong with an image still comes first
