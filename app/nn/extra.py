"""Extra training examples beside MNIST and the pen strokes: the networks' own 28x28 binary inputs with their
labels, as `digitpad corrections export` writes them and `digitpad train --extra FILE` reads them.

Two formats:
- `.npz` (numpy.savez_compressed, read without pickle): `format` = "digitpad-extra-1"; `bits`, (N, 98)
  uint8, each input row-major with 1 = ink, packed 8 pixels to a byte, the first in the high bit
  (numpy.packbits); `labels`, (N,) uint8. `digitpad corrections export` adds, per example, `ids` (int64),
  `models` (str), `guesses` (int8, the guess the person saw, -1 when unknown) and `created` (int64, Unix
  seconds); readers ignore what they do not know.
- IDX, MNIST's own format, for other tools: `PREFIX-images-idx3-ubyte.gz`, (N, 28, 28) uint8 with 255 =
  ink, and `PREFIX-labels-idx1-ubyte.gz`. `--extra` takes the images file and finds the labels beside it.
"""

from __future__ import annotations

import gzip
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from app.nn.data import DataError, read_idx
from app.nn.files import save_arrays
from app.nn.preprocess import SIZE

FORMAT = "digitpad-extra-1"
PACKED = SIZE * SIZE // 8  # 98 bytes an input
IMAGES, LABELS = "images-idx3-ubyte", "labels-idx1-ubyte"


def write_npz(
    path: Path, bits: np.ndarray, labels: np.ndarray, columns: Mapping[str, np.ndarray] | None = None
) -> Path:
    """bits (N, 28, 28) of 0/1 and labels (N,) -> `path`, written whole or not at all."""
    _check(bits, labels, str(path))
    packed = np.packbits(bits.reshape(len(bits), SIZE * SIZE).astype(np.uint8), axis=1)
    arrays: dict[str, Any] = {"format": np.array(FORMAT), "bits": packed, "labels": labels.astype(np.uint8)}
    save_arrays(path, {**arrays, **(columns or {})})
    return path


def write_idx(prefix: Path, bits: np.ndarray, labels: np.ndarray) -> tuple[Path, Path]:
    """bits and labels -> PREFIX-images-idx3-ubyte.gz (255 = ink) and PREFIX-labels-idx1-ubyte.gz."""
    _check(bits, labels, str(prefix))
    images = np.where(bits.astype(bool), 255, 0).astype(np.uint8)
    n = len(labels)
    paths = (prefix.with_name(f"{prefix.name}-{IMAGES}.gz"), prefix.with_name(f"{prefix.name}-{LABELS}.gz"))
    contents = (
        struct.pack(">IIII", 0x803, n, SIZE, SIZE) + images.tobytes(),
        struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes(),
    )
    for path, content in zip(paths, contents, strict=True):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(gzip.compress(content, mtime=0))
        tmp.replace(path)
    return paths


def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An extra-examples file (either format) -> inputs (N, 28, 28) uint8 of 0/1 and labels (N,) uint8.
    Raises DataError saying what is wrong."""
    if not path.is_file():
        raise DataError(f"The extra examples file {path} does not exist.")
    if zipfile.is_zipfile(path):
        return _read_npz(path)
    if IMAGES in path.name:
        labels_path = path.with_name(path.name.replace(IMAGES, LABELS))
        if not labels_path.is_file():
            raise DataError(f"{path} is an IDX images file, and its labels file {labels_path.name} is not beside it.")
        images, labels = read_idx(path), read_idx(labels_path)
        if images.ndim != 3 or images.shape[1:] != (SIZE, SIZE) or labels.shape != images.shape[:1]:
            raise DataError(f"{path} and {labels_path.name} are not {SIZE}x{SIZE} images with a label each.")
        bits, labels = (images >= 128).astype(np.uint8), labels
    else:
        raise DataError(
            f"{path} is neither a {FORMAT} .npz file nor an IDX images file (*-{IMAGES}[.gz]); "
            "make one with `digitpad corrections export`."
        )
    _check(bits, labels, str(path))
    return bits, labels


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            kind = str(npz["format"]) if "format" in npz else None
            if kind != FORMAT:
                raise DataError(f"{path} is not a {FORMAT} file (its format is {kind!r}).")
            packed, labels = npz["bits"], npz["labels"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path} cannot be read as extra examples: {exc}") from exc
    if packed.ndim != 2 or packed.shape[1] != PACKED or packed.dtype != np.uint8:
        raise DataError(f"{path}: `bits` must be (N, {PACKED}) bytes, it is {packed.shape} {packed.dtype}.")
    bits = np.unpackbits(packed, axis=1, count=SIZE * SIZE).reshape(-1, SIZE, SIZE)
    _check(bits, labels, str(path))
    return bits, labels.astype(np.uint8)


def _check(bits: np.ndarray, labels: np.ndarray, where: str) -> None:
    if bits.shape[1:] != (SIZE, SIZE) or labels.shape != (len(bits),):
        raise DataError(f"{where}: {len(labels)} labels for inputs shaped {bits.shape}; expected one label an input.")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: labels must be digits 0 to 9.")
