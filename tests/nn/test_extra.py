"""Extra training examples: the .npz and IDX files `digitpad corrections export` writes, read back exactly,
and anything else refused with a sentence that says what is wrong."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from app.nn import extra
from app.nn.data import DataError, read_idx


@pytest.fixture
def examples() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.random((5, 28, 28)) < 0.3).astype(np.uint8), np.array([7, 1, 0, 9, 4], np.uint8)


def test_npz_round_trips_bit_for_bit_with_its_extra_columns(tmp_path, examples):
    bits, labels = examples
    path = extra.write_npz(tmp_path / "c.npz", bits, labels, {"ids": np.arange(5, dtype=np.int64)})
    read_bits, read_labels = extra.read(path)
    np.testing.assert_array_equal(read_bits, bits)
    np.testing.assert_array_equal(read_labels, labels)
    with np.load(path, allow_pickle=False) as npz:
        assert str(npz["format"]) == extra.FORMAT and npz["bits"].shape == (5, 98)
        assert list(npz["ids"]) == [0, 1, 2, 3, 4]
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left behind


def test_idx_is_mnists_format_and_reads_back_from_the_images_file(tmp_path, examples):
    bits, labels = examples
    images_path, labels_path = extra.write_idx(tmp_path / "corrections", bits, labels)
    assert images_path.name == "corrections-images-idx3-ubyte.gz"
    assert labels_path.name == "corrections-labels-idx1-ubyte.gz"
    images = read_idx(images_path)
    assert images.shape == (5, 28, 28) and set(np.unique(images)) <= {0, 255}
    assert gzip.decompress(labels_path.read_bytes())[:4] == b"\x00\x00\x08\x01"
    read_bits, read_labels = extra.read(images_path)
    np.testing.assert_array_equal(read_bits, bits)
    np.testing.assert_array_equal(read_labels, labels)


def test_an_empty_export_is_a_valid_file(tmp_path):
    path = extra.write_npz(tmp_path / "none.npz", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    bits, labels = extra.read(path)
    assert bits.shape == (0, 28, 28) and labels.shape == (0,)


def test_files_that_are_not_extra_examples_are_refused(tmp_path, examples):
    bits, labels = examples
    with pytest.raises(DataError, match="does not exist"):
        extra.read(tmp_path / "missing.npz")
    (tmp_path / "notes.txt").write_text("7 7 7")
    with pytest.raises(DataError, match="neither"):
        extra.read(tmp_path / "notes.txt")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(DataError, match="not a digitpad-extra-1 file"):
        extra.read(tmp_path / "other.npz")
    np.savez(tmp_path / "short.npz", format=np.array(extra.FORMAT), bits=np.zeros((2, 97), np.uint8), labels=labels[:2])
    with pytest.raises(DataError, match="98"):
        extra.read(tmp_path / "short.npz")
    images_path, labels_path = extra.write_idx(tmp_path / "lonely", bits, labels)
    labels_path.unlink()
    with pytest.raises(DataError, match="labels file"):
        extra.read(images_path)
    with pytest.raises(DataError, match="digits 0 to 9"):
        extra.write_npz(tmp_path / "bad.npz", bits, np.array([1, 2, 3, 4, 10], np.uint8))
