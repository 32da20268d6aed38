"""Model integrity: the shipped files match their SHA256SUMS, and a changed file is never loaded."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from app.cli import main
from app.config import MODEL_DIR
from app.nn.manifest import MANIFEST, read_manifest, verify, write_manifest
from app.nn.network import ModelFileError
from tests.factories import assert_error

SHIPPED = ("cnn.npz", "mlp.npz", "logreg.npz")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A copy of the shipped models and everything else their manifest lists, to tamper with."""
    for name in (*read_manifest(MODEL_DIR), MANIFEST):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    return tmp_path


def test_the_shipped_models_match_their_manifest():
    sums = read_manifest(MODEL_DIR)
    assert set(SHIPPED) <= set(sums)
    for name in SHIPPED:
        assert sums[name] == hashlib.sha256((MODEL_DIR / name).read_bytes()).hexdigest(), (
            f"{name} changed since {MODEL_DIR / MANIFEST} was written: run `digitpad manifest`"
        )


def test_the_manifest_is_what_sha256sum_checks(model_dir):
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not installed")
    subprocess.run(["sha256sum", "--check", "--strict", "--quiet", MANIFEST], cwd=model_dir, check=True)


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "append"])
def test_a_changed_file_fails_verification_naming_it(model_dir, damage):
    path = model_dir / "mlp.npz"
    data = bytearray(path.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data += b"\0"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"mlp\.npz does not match its SHA-256"):
        verify(path)
    verify(model_dir / "cnn.npz")  # the others are untouched


def test_a_file_missing_from_the_manifest_or_without_one_is_refused(model_dir):
    write_manifest(model_dir, ["cnn.npz"])  # rewrites only cnn's entry; the others stay
    (model_dir / MANIFEST).write_text((model_dir / MANIFEST).read_text().replace("mlp.npz", "other.npz"))
    with pytest.raises(ModelFileError, match=r"mlp\.npz is not listed"):
        verify(model_dir / "mlp.npz")
    (model_dir / MANIFEST).unlink()
    with pytest.raises(ModelFileError, match=r"cnn\.npz cannot be verified.*digitpad manifest"):
        verify(model_dir / "cnn.npz")


def test_a_malformed_manifest_is_refused(model_dir):
    (model_dir / MANIFEST).write_text("not a sum  cnn.npz\n")
    with pytest.raises(ModelFileError, match="line 1"):
        verify(model_dir / "cnn.npz")


def test_a_tampered_model_is_not_loaded_and_readyz_says_why(model_dir, make_client, caplog, seven_png):
    path = model_dir / "logreg.npz"
    path.write_bytes(path.read_bytes()[:-100])
    with make_client(model_dir=model_dir) as app_client:
        body = assert_error(app_client.get("/readyz"), 503, "not_ready")
        models = app_client.get("/api/models").json()["models"]
        still_served = app_client.post("/api/predict", content=seven_png, headers={"Content-Type": "image/png"})
    assert "logreg.npz does not match its SHA-256" in body["detail"]
    assert [model["name"] for model in models] == ["cnn", "mlp"]
    assert still_served.status_code == 200
    assert any(
        "logreg.npz does not match" in record.getMessage() for record in caplog.records if record.levelname == "ERROR"
    )


def test_digitpad_manifest_rewrites_the_sums(model_dir, capsys):
    (model_dir / MANIFEST).unlink()
    assert main(["manifest", str(model_dir)]) == 0
    indexes = {name.replace(".npz", ".stimuli.npz") for name in SHIPPED}
    judges = {path.name for path in model_dir.glob("*.judge.npz")}
    assert "cnn.judge.npz" in judges
    # the stimulus indexes and piece judges are vouched for too
    assert set(read_manifest(model_dir)) == set(SHIPPED) | indexes | judges
    assert "mlp.npz" in capsys.readouterr().out
    for name in (*SHIPPED, *indexes, *judges):
        verify(model_dir / name)


def test_digitpad_manifest_refuses_a_missing_folder(tmp_path, capsys):
    assert main(["manifest", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
