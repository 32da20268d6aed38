"""The live-guess sockets, /api/predict/live and /api/read/live: each message a drawing, each answer the POST
route's, in order; a bad drawing answered with its error and the socket kept; a bad query or model
answered, then closed; pages of other sites refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.web.live import POLICY_VIOLATION
from app.web.schemas import SEVEN_BITS, SEVEN_ROWS
from tests.factories import DIGIT_STROKES, TEST_DATA_DIR, digit_png, pad_number, png_bytes

DIGITS = {digit: digit_png(digit) for digit in (1, 3, 7)}


def without_timings(answer: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in answer.items() if name != "timings_ms"}


def posted(client: TestClient, route: str, body: bytes, query: str = "") -> dict[str, Any]:
    response = client.post(f"{route}?{query}", content=body, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    return without_timings(response.json())


def receive(socket: Any) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(socket.receive_text())
    return answer


def assert_error_message(answer: dict[str, Any], status: int, code: str) -> None:
    assert set(answer) == {"detail", "code", "status"}
    assert (answer["status"], answer["code"]) == (status, code)
    assert answer["detail"].endswith(".") and len(answer["detail"]) > 20


@pytest.mark.parametrize("name", ["canvas-7.png", "ink-7.png"])
def test_a_drawing_gets_the_posts_answer(client, name):
    image = (TEST_DATA_DIR / name).read_bytes()
    with client.websocket_connect("/api/predict/live") as socket:
        socket.send_bytes(image)
        answer = receive(socket)
    assert answer["prediction"] == 7
    assert set(answer["timings_ms"]) >= {"decode", "preprocess", "forward"}
    assert without_timings(answer) == posted(client, "/api/predict", image)


def test_the_query_string_is_the_posts(client):
    image = DIGITS[3]
    with client.websocket_connect("/api/predict/live?model=mlp&top_k=5&activations=false") as socket:
        socket.send_bytes(image)
        answer = receive(socket)
    assert answer["model"] == "mlp" and len(answer["guesses"]) == 5 and "layers" not in answer
    assert without_timings(answer) == posted(client, "/api/predict", image, "model=mlp&top_k=5&activations=false")


def test_answers_come_in_the_order_the_drawings_were_sent(client):
    with client.websocket_connect("/api/predict/live?activations=false") as socket:
        for image in DIGITS.values():
            socket.send_bytes(image)
        answers = [receive(socket)["prediction"] for _ in DIGITS]
    assert answers == list(DIGITS)


def test_json_drawings_as_the_post_takes_them(client):
    pixels = [[255 * int(bit) for bit in row] for row in SEVEN_ROWS]
    with client.websocket_connect("/api/predict/live") as socket:
        socket.send_text(json.dumps({"bits": SEVEN_BITS}))
        bits = receive(socket)
        socket.send_text(json.dumps({"pixels": pixels}))
        grid = receive(socket)
    assert bits["prediction"] == 7 and bits["input"]["bits"] == SEVEN_BITS
    assert grid["prediction"] == 7
    assert without_timings(grid) == without_timings(client.post("/api/predict", json={"pixels": pixels}).json())


def test_a_bad_drawing_is_answered_and_the_socket_kept(client):
    blank = png_bytes(Image.new("L", (280, 280), 255))
    with client.websocket_connect("/api/predict/live") as socket:
        socket.send_bytes(b"not an image")
        assert_error_message(receive(socket), 422, "invalid_image")
        socket.send_bytes(blank)
        assert_error_message(receive(socket), 422, "empty_drawing")
        socket.send_text('{"bits": "01"}')
        assert_error_message(receive(socket), 422, "invalid_request")
        socket.send_text("not json")
        assert_error_message(receive(socket), 422, "invalid_request")
        socket.send_bytes(DIGITS[7])
        assert receive(socket)["prediction"] == 7


def test_a_fault_of_the_servers_is_answered_and_the_socket_kept(client, monkeypatch, caplog):
    def explode(*args: object) -> bytes:
        raise RuntimeError("boom")

    with client.websocket_connect("/api/predict/live") as socket:
        with monkeypatch.context() as patched:
            patched.setattr("app.web.predictions._answer_one", explode)
            socket.send_bytes(DIGITS[7])
            assert_error_message(receive(socket), 500, "internal_error")
        socket.send_bytes(DIGITS[7])
        assert receive(socket)["prediction"] == 7
    assert "Unexpected error on a drawing sent to /api/predict/live" in caplog.text


def test_a_message_over_the_body_limit(make_client):
    with (
        make_client(max_body_bytes=len(DIGITS[7]) - 1) as client,
        client.websocket_connect("/api/predict/live") as socket,
    ):
        socket.send_bytes(DIGITS[7])
        assert_error_message(receive(socket), 413, "payload_too_large")
        socket.send_bytes(b"\x89PNG")
        assert_error_message(receive(socket), 422, "invalid_image")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("model=nope", 404, "unknown_model"),
        ("top_k=11", 422, "invalid_request"),
        ("activations=perhaps", 422, "invalid_request"),
    ],
)
def test_a_bad_query_is_answered_then_closed(client, query, status, code):
    with client.websocket_connect(f"/api/predict/live?{query}") as socket:
        assert_error_message(receive(socket), status, code)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
    assert closed.value.code == POLICY_VIOLATION and closed.value.reason == code


def test_pages_of_other_sites_are_refused(make_client):
    with make_client() as client:
        foreign = {"Origin": "https://elsewhere.example"}
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/api/predict/live", headers=foreign),
        ):
            pass
        assert refused.value.code == POLICY_VIOLATION
        # the site's own pages, and programs (no Origin), are served
        for headers in ({"Origin": "http://testserver"}, {}):
            with client.websocket_connect("/api/predict/live", headers=headers) as socket:
                socket.send_bytes(DIGITS[1])
                assert receive(socket)["prediction"] == 1
    allowed = {"Origin": "https://class.example"}
    with (
        make_client(cors_origins=("https://class.example",)) as client,
        client.websocket_connect("/api/predict/live", headers=allowed) as socket,
    ):
        socket.send_bytes(DIGITS[1])
        assert receive(socket)["prediction"] == 1


def test_a_number_gets_the_reads_answer(client):
    number = png_bytes(
        Image.fromarray(
            255 - pad_number(*((DIGIT_STROKES[int(c)], 0.05 + i * 0.57, 0.2) for i, c in enumerate("2026")), scale=0.6)
        )
    )
    with client.websocket_connect("/api/read/live") as socket:
        socket.send_bytes(number)
        answer = receive(socket)
        socket.send_bytes(png_bytes(Image.new("L", (400, 100), 255)))
        assert_error_message(receive(socket), 422, "empty_drawing")
    assert answer["text"] == "2026" and all("layers" not in digit for digit in answer["digits"])
    assert without_timings(answer) == posted(client, "/api/read", number)


def test_live_drawings_are_counted(client):
    with client.websocket_connect("/api/predict/live") as socket:
        socket.send_bytes(DIGITS[7])
        receive(socket)
        socket.send_bytes(b"x")
        receive(socket)
    metrics = client.get("/metrics").text
    assert 'digitpad_live_drawings_total{outcome="ok",route="/api/predict/live"}' in metrics
    assert 'digitpad_live_drawings_total{outcome="invalid_image",route="/api/predict/live"}' in metrics
    assert "digitpad_live_sockets 0.0" in metrics


def test_a_socket_is_one_access_log_line_once_closed(make_client, capsys):
    with make_client(access_log="json") as client:
        capsys.readouterr()
        with client.websocket_connect("/api/predict/live", headers={"User-Agent": "pytest"}) as socket:
            socket.send_bytes(DIGITS[7])
            receive(socket)
            socket.send_bytes(b"x")
            receive(socket)
        client.get("/healthz")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("WEBSOCKET", "/api/predict/live", 101),
        ("GET", "/healthz", 200),
    ]
    assert lines[0]["drawings"] == 2 and lines[0]["user_agent"] == "pytest" and lines[0]["duration_ms"] > 0
    with make_client(access_log="text") as client:
        capsys.readouterr()
        with client.websocket_connect("/api/read/live"):
            pass
    (line,) = capsys.readouterr().out.splitlines()
    assert '"WEBSOCKET /api/read/live" 101 0 drawings' in line
