"""MNIST's IDX files, the verified download, and pen-stroke digits."""

from __future__ import annotations

import gzip
import http.server
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.nn import data
from app.nn.preprocess import binarize, preprocess
from app.nn.train import PEN_VALIDATION_WRITERS
from tests.factories import TEST_DATA_DIR


def test_reads_gzip_and_raw_idx(tmp_path, mnist_test):
    images, labels = mnist_test
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress((TEST_DATA_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    np.testing.assert_array_equal(data.read_idx(raw), labels)


def test_truncated_idx_is_reported(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\0\0\x08\x03" + (100).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 50)
    with pytest.raises(data.DataError, match="truncated"):
        data.read_idx(path)


@pytest.fixture
def mirror(tmp_path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server standing in for a public mirror; serves files from a folder."""
    root = tmp_path / "mirror"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root
    server.shutdown()
    server.server_close()


def test_downloads_missing_files_and_verifies_them(tmp_path, mirror, mnist_test, capsys):
    url, root = mirror
    for name in data.MNIST_FILES["test"]:
        # a mirror may compress differently: the check is on the uncompressed bytes
        content = gzip.decompress((TEST_DATA_DIR / f"{name}.gz").read_bytes())
        (root / f"{name}.gz").write_bytes(gzip.compress(content, compresslevel=1))
    target = tmp_path / "data"
    images, _ = data.load_mnist(target, "test", mirrors=[url])
    np.testing.assert_array_equal(images, mnist_test[0])
    assert sorted(p.name for p in target.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert "downloading t10k-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_a_mirror_with_wrong_bytes_is_skipped(tmp_path, mirror):
    url, root = mirror
    bad = root / "bad"
    bad.mkdir()
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01" + b"\0\0\0\x01" + b"\x07"))
    good = root / "good"
    good.mkdir()
    (good / "t10k-labels-idx1-ubyte.gz").write_bytes((TEST_DATA_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes())
    path = data.download_mnist_file(tmp_path, "t10k-labels-idx1-ubyte", [url + "bad/", url + "missing/", url + "good/"])
    assert data.read_idx(path).shape == (10000,)


def test_offline_failure_names_the_four_files(tmp_path, mirror):
    url, _ = mirror  # serves nothing
    with pytest.raises(data.DataError) as excinfo:
        data.load_mnist(tmp_path / "empty", "train", mirrors=[url])
    message = str(excinfo.value)
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "--data-dir",
    ):
        assert name in message
    assert not any((tmp_path / "empty").glob("*.gz"))  # nothing half-downloaded is left


def test_no_download_when_asked_not_to(tmp_path):
    with pytest.raises(data.DataError, match="could not be downloaded"):
        data.load_mnist(tmp_path, "test", download=False)


UNIPEN = """.INCLUDE dene.doc
.SEGMENT DIGIT    0 ? "7"
.COMMENT 7 12  224
.PEN_DOWN
 100  400
 300  400
 150  100
.PEN_UP
.DT 100
.SEGMENT DIGIT 1-2 ? "4"
.COMMENT 4  3   35
.PEN_DOWN
 100  400
 80  250
 300  250
.PEN_UP
.PEN_DOWN
 250  420
 250  80
.PEN_UP
"""


def test_pendigits_are_parsed_with_writer_and_flipped_y(tmp_path):
    path = tmp_path / "pen.tra.gz"
    path.write_bytes(gzip.compress(UNIPEN.encode()))
    seven, four = data.load_pendigits(path)
    assert (seven.label, seven.writer, len(seven.strokes)) == (7, 12, 1)
    assert (four.label, four.writer, len(four.strokes)) == (4, 3, 2)
    np.testing.assert_array_equal(seven.strokes[0][0], [100, 100])  # tablet y=400 is near the top


def test_pen_strokes_render_as_a_round_pen(tmp_path):
    stroke = np.array([[100.0, 250.0], [400.0, 250.0]], np.float32)
    image = data.render_strokes([stroke], size=280, pen_width=0.1)
    assert image.shape == (280, 280) and image.dtype == np.uint8
    column = image[:, 140] > 0
    assert abs(column.sum() - 28) <= 2  # the pen is 0.1 of the canvas
    assert image[140, 56 - 14 + 2] == 255  # the round cap reaches past the stroke's end
    pre = preprocess(image)
    assert pre.bits.sum() > 0


@pytest.mark.slow
def test_the_packaged_test_set_is_the_preprocessed_mnist_test_set(mnist_test):
    images, labels = mnist_test
    bits, packaged_labels = data.bundled_mnist("test")
    np.testing.assert_array_equal(packaged_labels, labels)
    np.testing.assert_array_equal(bits, binarize(data.mnist_inputs(images)))


def test_the_packaged_training_set_has_every_digit():
    bits, labels = data.bundled_mnist("train")
    assert bits.shape == (60000, 28, 28) and bits.dtype == np.uint8 and set(np.unique(bits)) == {0, 1}
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert bits.reshape(len(bits), -1).sum(axis=1).min() > 0  # every digit has ink


def test_pack_and_load_round_trip(tmp_path, mnist_test):
    images, labels = mnist_test[0][:50], mnist_test[1][:50]
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train", "t10k"):
        (folder / f"{name}-images-idx3-ubyte").write_bytes(
            b"\0\0\x08\x03" + struct.pack(">III", 50, 28, 28) + images.tobytes()
        )
        (folder / f"{name}-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01" + struct.pack(">I", 50) + labels.tobytes())
    paths = data.pack_mnist(folder, tmp_path / "out")
    assert [p.name for p in paths] == ["mnist-train.npz", "mnist-test.npz"]
    for split in ("train", "test"):
        bits, packaged_labels = data.bundled_mnist(split, tmp_path / "out")
        np.testing.assert_array_equal(bits, binarize(data.mnist_inputs(images)))
        np.testing.assert_array_equal(packaged_labels, labels)


def test_a_missing_packaged_set_says_how_to_remake_it(tmp_path):
    with pytest.raises(data.DataError, match="digitpad pack-mnist"):
        data.bundled_mnist("test", tmp_path)


def test_pen_digits_round_trip_through_their_file(tmp_path):
    path = tmp_path / "pendigits.gz"
    path.write_bytes(gzip.compress(UNIPEN.encode()))
    original = data.load_pendigits(path)
    saved = tmp_path / "strokes.npz"
    data.save_pen_digits(original, saved)
    loaded = data.load_pen_digits(saved)
    assert [(d.label, d.writer, len(d.strokes)) for d in loaded] == [
        (d.label, d.writer, len(d.strokes)) for d in original
    ]
    for a, b in zip(loaded, original, strict=True):
        for sa, sb in zip(a.strokes, b.strokes, strict=True):
            np.testing.assert_array_equal(sa, sb)


def test_the_committed_held_out_strokes_are_six_writers_no_model_trains_on():
    digits = data.load_pen_digits(TEST_DATA_DIR / "pen-strokes-held-out.npz")
    assert len(digits) == 1499 and {d.writer for d in digits} == set(PEN_VALIDATION_WRITERS)
    assert np.bincount([d.label for d in digits]).min() >= 140
