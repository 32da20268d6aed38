"""The `digitpad` command: predict on files, serve a live server that answers and shuts down cleanly, and the
corrections database's commands, from its schema to an export trained on."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from app.cli import main
from app.config import MODEL_DIR, get_settings
from app.core import corrections
from app.core.corrections import NewCorrection
from app.core.storage.database import Storage, head_revision
from app.nn import extra
from app.nn.manifest import sha256
from app.nn.network import load_model
from tests import servers
from tests.factories import DIGIT_STROKES, digit_png, pad_number, png_bytes, train_dir_from_test_set

ROOT = Path(__file__).resolve().parents[1]


def test_predict_prints_one_json_line_per_image(tmp_path, capsys):
    paths = []
    for digit in (1, 7):
        path = tmp_path / f"{digit}.png"
        path.write_bytes(digit_png(digit))
        paths.append(str(path))
    status = main(["predict", *paths, "--model", str(MODEL_DIR / "cnn.npz"), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 0
    assert [(line["file"], line["prediction"]) for line in lines] == [(paths[0], 1), (paths[1], 7)]
    assert "layers" not in lines[0]


def test_predict_reports_unreadable_files_and_fails(tmp_path, capsys):
    good, bad, missing = tmp_path / "4.png", tmp_path / "bad.png", tmp_path / "missing.png"
    good.write_bytes(digit_png(4))
    bad.write_bytes(b"not an image")
    status = main(["predict", str(good), str(bad), str(missing), "--model", str(MODEL_DIR / "mlp.npz")])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[0].startswith(f"{good}: 4 (")
    assert out[1].startswith(f"{bad}: ") and "not a PNG" in out[1]
    assert out[2].startswith(f"{missing}: ")


def number_png(text: str) -> bytes:
    ink = pad_number(*((DIGIT_STROKES[int(c)], 0.05 + i * 0.57, 0.2) for i, c in enumerate(text)), scale=0.6)
    return png_bytes(Image.fromarray(255 - ink))


def test_predict_number_reads_every_digit(tmp_path, capsys):
    year, blank = tmp_path / "year.png", tmp_path / "blank.png"
    year.write_bytes(number_png("2026"))
    blank.write_bytes(png_bytes(Image.new("L", (480, 160), 255)))
    status = main(["predict", "--number", str(year), str(blank)])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[0].startswith(f"{year}: 2026: 2 (") and out[0].count("%") == 4
    assert out[1].startswith(f"{blank}: ") and "no ink" in out[1]


def test_predict_number_json(tmp_path, capsys):
    path = tmp_path / "n.png"
    path.write_bytes(number_png("47"))
    assert main(["predict", "--number", "--json", str(path), "--model", "mlp"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["file"] == str(path) and line["model"] == "mlp" and line["text"] == "47"
    assert [d["prediction"] for d in line["digits"]] == [4, 7]
    assert all(len(d["box"]) == 4 and "layers" not in d for d in line["digits"])


def test_predict_with_a_missing_model_exits_2(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "x.png"), "--model", str(tmp_path / "none.npz")]) == 2
    assert "none.npz" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_a_drawn_digit_and_shuts_down_cleanly(stop):
    try:
        server = servers.start({"DIGITPAD_MODEL_DIR": str(MODEL_DIR)})
    except servers.ServerDidNotStart as exc:
        pytest.fail(str(exc))
    try:
        response = httpx.post(
            f"{server.url}/api/predict", content=digit_png(7), headers={"Content-Type": "image/png"}, timeout=10
        )
        assert response.status_code == 200
        assert response.json()["prediction"] == 7
        assert response.headers["x-content-type-options"] == "nosniff"
    finally:
        server.process.send_signal(stop)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            raise
    output = server.output()
    assert server.process.returncode == 0, output
    assert "Application shutdown complete" in output


@pytest.fixture
def database_env(monkeypatch, tmp_path):
    """The CLI's settings on a SQLite database in a temporary data folder."""
    monkeypatch.delenv("DIGITPAD_DATABASE_URL", raising=False)
    monkeypatch.setenv("DIGITPAD_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def test_db_upgrade_makes_the_schema_and_the_commands_refuse_a_database_without_it(database_env, capsys):
    assert main(["corrections", "stats"]) == 2
    assert "run `digitpad db upgrade`" in capsys.readouterr().err
    assert main(["db", "upgrade", "0001"]) == 0
    assert "schema revision 0001\n" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"schema revision {head_revision()} (the latest)" in capsys.readouterr().out
    assert (database_env / "digitpad.db").is_file()


def test_a_database_that_cannot_answer_exits_2_saying_why(monkeypatch, capsys):
    monkeypatch.setenv("DIGITPAD_DATABASE_URL", f"postgresql://nobody:s3cret@127.0.0.1:{servers.free_port()}/none")
    monkeypatch.setenv("DIGITPAD_DATABASE_TIMEOUT", "2")
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "cannot answer" in err and "127.0.0.1" in err and "s3cret" not in err


def test_corrections_export_round_trips_into_a_tiny_training_run(database_env, tmp_path, capsys):
    assert main(["db", "upgrade"]) == 0
    storage = Storage(get_settings())
    rng = np.random.default_rng(2)
    saved = [((rng.random((28, 28)) < 0.2).astype(np.uint8), label) for label in (7, 7, 1, 3)]
    for bits, label in saved:
        storage.call(
            lambda engine, bits=bits, label=label: corrections.save(engine, NewCorrection(bits, label, "cnn", 1))
        )
    storage.close()
    capsys.readouterr()

    assert main(["corrections", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == 4 and stats["by_label"]["7"] == 2 and stats["by_model"] == {"cnn": 4}
    assert main(["corrections", "stats"]) == 0
    assert "4 corrections" in capsys.readouterr().out

    assert main(["corrections", "export", "--out", str(tmp_path / "corrections.npz")]) == 0
    assert "wrote 4 corrections" in capsys.readouterr().out
    assert main(["corrections", "export", "--format", "idx", "--out", str(tmp_path / "corrections")]) == 0
    for path in (tmp_path / "corrections.npz", tmp_path / "corrections-images-idx3-ubyte.gz"):
        bits, labels = extra.read(path)
        np.testing.assert_array_equal(bits, np.stack([b for b, _ in saved]))
        assert labels.tolist() == [7, 7, 1, 3]

    out = tmp_path / "model" / "logreg.npz"
    mnist = train_dir_from_test_set(tmp_path / "mnist")
    args = ["--data-dir", str(mnist), "--limit", "300", "--epochs", "1", "--out", str(out)]
    assert main(["train", "logreg", *args, "--extra", str(tmp_path / "corrections.npz")]) == 0
    training = load_model(out).meta["training"]
    assert training["extra"] == [{"file": "corrections.npz", "sha256": sha256(tmp_path / "corrections.npz")}]
    assert training["train_examples"] == 300 - 60 + 4  # MNIST less its validation fifth, and the corrections


def test_train_lab_reports_the_figures_the_events_stream_sends_and_writes_the_same_model(tmp_path, capsys):
    from app.core.runs import cache_key, model_name
    from app.nn import lab
    from app.nn.network import load_model

    out = tmp_path / "run.npz"
    argv = ["train", "mlp", "--lab", "--hidden", "16", "--activation", "relu", "--train-size", "500", "--epochs", "2"]
    assert main([*argv, "--learning-rate", "0.1", "--seed", "3", "--json", "--out", str(out)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {e["event"] for e in events[:-1]} == {"progress"} and events[-1]["event"] == "done"
    settings = lab.LabSettings.make("mlp", hidden=[16], activation="relu", train_size=500, epochs=2, seed=3)
    done = events[-1]["data"]
    assert done["model"] == model_name(cache_key(settings))  # the name the server gives the same run
    server_side = lab.run(settings, done["model"], lambda kind, data: None)
    assert done["metrics"]["validation"] == server_side.metrics["validation"]
    assert load_model(out).meta["training"]["lab"] == settings.to_json()

    assert main([*argv, "--out", str(tmp_path / "again.npz")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("epoch 1/2  step 8/16  log-likelihood -") and "validation" in lines[0]
    assert lines[-1].startswith("done: validation ") and str(tmp_path / "again.npz") in lines[-1]


def test_train_lab_refuses_settings_the_lab_does_not_take(capsys):
    assert main(["train", "logreg", "--lab", "--hidden", "10"]) == 2
    assert "no hidden layer" in capsys.readouterr().err
    assert main(["train", "mlp", "--settings", '{"architecture": "mlp", "epochs": 0}']) == 2
    assert "`epochs` must be from 1" in capsys.readouterr().err


def test_index_builds_every_models_index_and_records_it(tmp_path, capsys):
    import shutil

    from app.nn.manifest import read_manifest, verify, write_manifest

    shutil.copy(MODEL_DIR / "logreg.npz", tmp_path / "logreg.npz")
    write_manifest(tmp_path)
    assert main(["index", str(tmp_path)]) == 0
    assert "logreg.stimuli.npz" in capsys.readouterr().out
    assert "logreg.stimuli.npz" in read_manifest(tmp_path)
    verify(tmp_path / "logreg.stimuli.npz")


def test_index_refuses_a_folder_without_models(tmp_path, capsys):
    assert main(["index", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["index", str(tmp_path)]) == 2
    assert "no model files" in capsys.readouterr().err
