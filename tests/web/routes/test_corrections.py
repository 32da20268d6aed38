"""POST /api/corrections and GET /api/corrections/stats: every drawing form /api/predict takes, the label
checked, what is stored and answered, and the database failing without taking predictions with it."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import event, text

from app.core import corrections
from app.web.schemas import SEVEN_BITS
from tests.factories import assert_error, digit_png
from tests.servers import free_port

PNG = {"Content-Type": "image/png"}


@pytest.fixture
def corrections_client(make_client, tmp_path):
    with make_client(data_dir=tmp_path) as client:
        yield client


def stored(client):
    return client.app.state.storage.call(corrections.page)


def test_a_drawing_as_json_bits_is_saved_as_it_is(corrections_client):
    response = corrections_client.post("/api/corrections", json={"bits": SEVEN_BITS, "label": 7, "guess": 1})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "label", "input"} and body["label"] == 7
    assert body["input"] == {"width": 28, "height": 28, "bits": SEVEN_BITS}
    [saved] = stored(corrections_client)
    assert (saved.id, saved.label, saved.model, saved.guess) == (body["id"], 7, "cnn", 1)
    assert "".join(map(str, saved.bits.reshape(-1))) == SEVEN_BITS


def test_every_form_of_drawing_is_read_like_a_prediction(corrections_client, seven_png):
    client = corrections_client
    expected = client.post("/api/predict?activations=false", content=seven_png, headers=PNG).json()["input"]["bits"]
    data_url = "data:image/png;base64," + base64.b64encode(seven_png).decode()
    answers = [
        client.post("/api/corrections?label=7", content=seven_png, headers=PNG),
        client.post("/api/corrections", files={"image": ("7.png", seven_png)}, data={"label": "7"}),
        client.post("/api/corrections?label=7", files={"image": ("7.png", seven_png)}),
        client.post("/api/corrections", json={"image": data_url, "label": 7}),
    ]
    for response in answers:
        assert response.status_code == 201, response.text
        assert response.json()["input"]["bits"] == expected
    pixels = [[0, 0, 0, 0, 0]] + [[0, 0, 255, 0, 0]] * 5 + [[0, 0, 0, 0, 0]]
    assert client.post("/api/corrections", json={"pixels": pixels, "label": 1}).status_code == 201
    assert len({c.id for c in stored(client)}) == 5


def test_without_a_guess_the_models_own_first_guess_is_kept(corrections_client, seven_png):
    client = corrections_client
    client.post("/api/corrections?label=1&model=mlp", content=seven_png, headers=PNG)
    [saved] = stored(client)
    assert (saved.label, saved.model, saved.guess) == (1, "mlp", 7)


@pytest.mark.parametrize(
    ("request_kwargs", "where"),
    [
        ({"params": {"label": 10}, "content": b"png", "headers": PNG}, "label"),
        ({"params": {"label": -1}, "content": b"png", "headers": PNG}, "label"),
        ({"params": {"label": "seven"}, "content": b"png", "headers": PNG}, "label"),
        ({"content": b"png", "headers": PNG}, "label"),
        ({"json": {"bits": SEVEN_BITS, "label": 10}}, "label"),
        ({"json": {"bits": SEVEN_BITS, "label": "7"}}, "label"),
        ({"json": {"bits": SEVEN_BITS, "label": True}}, "label"),
        ({"json": {"bits": SEVEN_BITS}}, "label"),
        ({"json": {"bits": SEVEN_BITS, "label": 7, "guess": 11}}, "guess"),
        ({"json": {"bits": SEVEN_BITS, "label": 7, "extra": 1}}, "extra"),
        ({"json": {"bits": SEVEN_BITS, "label": 7}, "params": {"label": 7}}, "label"),
        ({"files": {"image": ("7.png", b"x")}, "data": {"label": "12"}}, "label"),
        ({"files": {"image": ("7.png", b"x")}, "data": {"label": "7"}, "params": {"label": 7}}, "label"),
    ],
)
def test_a_label_that_is_not_one_digit_given_once_is_refused(corrections_client, request_kwargs, where):
    response = corrections_client.post("/api/corrections", **request_kwargs)
    body = assert_error(response, 422, "invalid_request")
    assert f"`{where}" in body["detail"]
    assert stored(corrections_client) == []


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"json": {"bits": "0" * 784, "label": 7}},
        {"params": {"label": 7}, "content": digit_png(7, pen=0.0001, scale=0.01), "headers": PNG},
        {"json": {"pixels": [[0, 0], [0, 0]], "label": 7}},
    ],
)
def test_a_blank_drawing_is_refused(corrections_client, request_kwargs):
    assert_error(corrections_client.post("/api/corrections", **request_kwargs), 422, "empty_drawing")
    assert stored(corrections_client) == []


def test_bad_bodies_get_the_same_answers_as_predictions(corrections_client):
    client = corrections_client
    assert_error(client.post("/api/corrections?label=7", content=b"not an image", headers=PNG), 422, "invalid_image")
    assert_error(
        client.post("/api/corrections?label=7", content=b"x", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert_error(
        client.post("/api/corrections?label=7&model=nope", content=digit_png(7), headers=PNG), 404, "unknown_model"
    )
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (3 * 1024 * 1024)
    assert_error(client.post("/api/corrections?label=7", content=big, headers=PNG), 413, "payload_too_large")
    assert stored(client) == []


def test_stats_count_every_digit_and_model(corrections_client, seven_png):
    client = corrections_client
    empty = client.get("/api/corrections/stats").json()
    assert empty == {
        "total": 0,
        "confirmations": 0,
        "by_label": {str(d): 0 for d in range(10)},
        "by_model": {},
        "misread_rate": {str(d): None for d in range(10)},
    }
    client.post("/api/corrections?label=7&guess=1", content=seven_png, headers=PNG)
    client.post("/api/corrections?label=7&guess=7", content=seven_png, headers=PNG)
    client.post("/api/corrections?label=2&model=logreg", content=digit_png(2), headers=PNG)
    stats = client.get("/api/corrections/stats").json()
    assert stats["total"] == 3 and stats["confirmations"] == 2
    assert stats["by_label"]["7"] == 2 and stats["by_label"]["2"] == 1 and stats["by_label"]["0"] == 0
    assert stats["by_model"] == {"cnn": 2, "logreg": 1}
    assert stats["misread_rate"]["7"] == 0.5 and stats["misread_rate"]["2"] == 0.0


def test_turned_off_there_are_no_corrections_at_all(make_client, tmp_path):
    with make_client(data_dir=tmp_path, corrections=False) as client:
        assert_error(client.post("/api/corrections", json={"bits": SEVEN_BITS, "label": 7}), 404, "not_found")
        assert_error(client.get("/api/corrections/stats"), 404, "not_found")
        assert "/api/corrections" not in client.get("/openapi.json").json()["paths"]
        assert client.post("/api/predict", json={"bits": SEVEN_BITS}).status_code == 200
    assert not list(tmp_path.glob("digitpad.db*"))  # no database made either


def test_an_unreachable_database_answers_503_on_corrections_only(make_client):
    url = f"postgresql://digitpad@127.0.0.1:{free_port()}/digitpad"
    with make_client(database_url=url, database_timeout=2) as client:
        for _ in range(2):  # and again once the back-off has let it try
            assert_error(
                client.post("/api/corrections", json={"bits": SEVEN_BITS, "label": 7}), 503, "storage_unavailable"
            )
            assert_error(client.get("/api/corrections/stats"), 503, "storage_unavailable")
            client.app.state.storage._down_until = 0
        assert client.post("/api/predict", json={"bits": SEVEN_BITS}).json()["prediction"] == 7
        assert client.get("/readyz").status_code == 200


def test_a_full_disk_answers_503_and_the_next_correction_once_there_is_room(corrections_client):
    client = corrections_client
    assert client.post("/api/corrections", json={"bits": SEVEN_BITS, "label": 7}).status_code == 201
    storage = client.app.state.storage
    engine = storage.engine
    with engine.connect() as connection:
        pages = connection.execute(text("PRAGMA page_count")).scalar_one()
    room = {"pages": pages}

    @event.listens_for(engine, "connect")
    def _limit(dbapi_connection, record):
        dbapi_connection.execute(f"PRAGMA max_page_count = {room['pages']}")

    engine.dispose()
    answers = [client.post("/api/corrections", json={"bits": SEVEN_BITS, "label": 7}) for _ in range(200)]
    refused = [a for a in answers if a.status_code != 201]
    assert refused, "the database never filled up"
    body = assert_error(refused[0], 503, "storage_unavailable")
    assert "full" in body["detail"]
    assert client.post("/api/predict", json={"bits": SEVEN_BITS}).status_code == 200
    room["pages"] = 10_000
    engine.dispose()
    storage._down_until = 0
    assert client.post("/api/corrections", json={"bits": SEVEN_BITS, "label": 7}).status_code == 201
    saved = len(answers) - len(refused) + 2
    assert client.get("/api/corrections/stats").json()["total"] == saved


def test_a_flood_from_one_client_is_refused_with_retry_after_and_loses_nothing(make_client, tmp_path):
    with make_client(data_dir=tmp_path, corrections_rate_limit=5, corrections_rate_window=3600) as client:
        answers = [client.post("/api/corrections", json={"bits": SEVEN_BITS, "label": 7}) for _ in range(8)]
        assert [a.status_code for a in answers] == [201] * 5 + [429] * 3
        body = assert_error(answers[-1], 429, "too_many_requests")
        assert "5 corrections" in body["detail"]
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 3600
        assert client.get("/api/corrections/stats").json()["total"] == 5
        assert client.post("/api/predict", json={"bits": SEVEN_BITS}).status_code == 200


TOKEN = "a-long-random-operator-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def admin_client(make_client, tmp_path):
    with make_client(data_dir=tmp_path, admin_token=TOKEN) as client:
        yield client


def save_some(client, labels):
    return [
        client.post("/api/corrections", json={"bits": SEVEN_BITS, "label": label, "guess": 1}).json()["id"]
        for label in labels
    ]


def test_without_an_admin_token_there_is_no_review_at_all(corrections_client):
    client = corrections_client
    [correction_id] = save_some(client, [7])
    assert_error(client.get("/review"), 404, "not_found")
    assert_error(client.get("/api/corrections", headers=ADMIN), 405, "method_not_allowed")
    assert_error(client.delete(f"/api/corrections/{correction_id}", headers=ADMIN), 404, "not_found")
    assert len(stored(client)) == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
def test_the_admin_api_needs_the_token_as_a_bearer_header(admin_client, headers):
    client = admin_client
    [correction_id] = save_some(client, [7])
    for response in (
        client.get("/api/corrections", headers=headers),
        client.get(f"/api/corrections?token={TOKEN}", headers=headers),
        client.delete(f"/api/corrections/{correction_id}", headers=headers),
    ):
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
    assert len(stored(client)) == 1


def test_the_document_says_which_routes_need_the_token_and_how(admin_client):
    document = admin_client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["adminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The operator's token, DIGITPAD_ADMIN_TOKEN, for the review page's API.",
    }
    secured = {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{"adminToken": []}]
    }
    assert secured == {"GET /api/corrections", "DELETE /api/corrections/{correction_id}"}


def test_the_operator_pages_through_corrections_by_digit_and_deletes_bad_ones(admin_client):
    client = admin_client
    ids = save_some(client, [7, 1, 7, 7, 3])
    page = client.get("/api/corrections?label=7&limit=2", headers=ADMIN)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    body = page.json()
    assert [c["id"] for c in body["corrections"]] == [ids[3], ids[2]] and body["next_before"] == ids[2]
    first = body["corrections"][0]
    assert (first["label"], first["model"], first["guess"], first["bits"]) == (7, "cnn", 1, SEVEN_BITS)
    assert first["guesses"][0]["digit"] == 7 and first["created_at"].endswith("+00:00")
    rest = client.get(f"/api/corrections?label=7&limit=2&before={body['next_before']}", headers=ADMIN).json()
    assert [c["id"] for c in rest["corrections"]] == [ids[0]] and rest["next_before"] is None

    assert client.delete(f"/api/corrections/{ids[2]}", headers=ADMIN).status_code == 204
    assert_error(client.delete(f"/api/corrections/{ids[2]}", headers=ADMIN), 404, "unknown_correction")
    assert [c["id"] for c in client.get("/api/corrections", headers=ADMIN).json()["corrections"]] == [
        ids[4],
        ids[3],
        ids[1],
        ids[0],
    ]
    assert client.get("/api/corrections/stats").json()["by_label"]["7"] == 2


def test_ids_past_what_the_database_holds_are_refused_not_looked_up(admin_client):
    client = admin_client
    save_some(client, [7])
    too_large = corrections.MAX_ID + 1
    assert_error(client.delete(f"/api/corrections/{too_large}", headers=ADMIN), 422, "invalid_request")
    assert_error(client.delete("/api/corrections/41181325050726350848", headers=ADMIN), 422, "invalid_request")
    assert_error(client.get(f"/api/corrections?before={too_large}", headers=ADMIN), 422, "invalid_request")
    assert client.get(f"/api/corrections?before={corrections.MAX_ID}", headers=ADMIN).json()["corrections"]
    assert_error(client.delete(f"/api/corrections/{corrections.MAX_ID}", headers=ADMIN), 404, "unknown_correction")


def test_the_review_page_asks_for_the_token_and_holds_no_secret(admin_client):
    response = admin_client.get("/review")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert TOKEN not in html and 'type="password"' in html and 'method="post"' in html
    assert '<script type="module" src="/static/js/review.js">' in html and "<script>" not in html
    assert admin_client.get("/static/js/review.js").status_code == 200
    head = admin_client.head("/review")  # HEAD wherever GET, as every page
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"].startswith("text/html")


def test_a_method_not_allowed_names_every_method_the_path_takes(admin_client):
    response = admin_client.put("/api/corrections")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"
