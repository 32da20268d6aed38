"""The `digitpad` command: predict on files, and serve a live server that answers and shuts down cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.config import MODEL_DIR
from tests import servers
from tests.factories import digit_png

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
