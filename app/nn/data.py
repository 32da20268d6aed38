"""Training data: MNIST's IDX files (read or downloaded) and UCI pendigits pen strokes.

Both reach the networks through `preprocess`, so training sees exactly what serving sees.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.nn.files import save_arrays
from app.nn.preprocess import BlankDrawing, binarize, preprocess
from app.nn.progress import Progress
from app.nn.stroke_augment import StrokeAugmentation
from app.nn.strokes import render_strokes

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# SHA-256 of the uncompressed files, so any mirror's gzip of the right bytes is accepted.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# Binarised MNIST inside the package, what the app reads at run time (never the IDX files): each split's
# inputs exactly as `preprocess` makes them, 784 bits a digit packed 8 to a byte, with their labels.
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


class DataError(Exception):
    """Data that is missing or damaged; the message says what to do."""


# --- MNIST ---


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or raw) as a uint8 array of the shape in its header."""
    data = _read_maybe_gzip(path)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes.")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: its header promises {dims} but the data is shorter.")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def _read_maybe_gzip(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def find_mnist_file(data_dir: Path, name: str) -> Path | None:
    for candidate in (data_dir / f"{name}.gz", data_dir / name):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(
    data_dir: str | Path, split: str, download: bool = True, mirrors: Iterable[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images (N, 28, 28) uint8 (0 = background) and labels (N,) from data_dir.

    Missing files are downloaded from the public mirrors when `download` is true.
    """
    data_dir = Path(data_dir)
    arrays = []
    for name in MNIST_FILES[split]:
        path = find_mnist_file(data_dir, name)
        if path is None:
            if not download:
                raise DataError(_missing_message(data_dir))
            path = download_mnist_file(data_dir, name, mirrors or _mirrors_from_env())
        arrays.append(read_idx(path))
    images, labels = arrays
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise DataError(f"The MNIST {split} files in {data_dir} do not match each other.")
    return images, labels


def _mirrors_from_env() -> tuple[str, ...]:
    env = os.environ.get("DIGITPAD_MNIST_MIRRORS")
    return tuple(env.split()) if env else MNIST_MIRRORS


def _missing_message(data_dir: Path) -> str:
    names = ", ".join(f"{n}.gz" for pair in MNIST_FILES.values() for n in pair)
    return (
        f"MNIST is not in {data_dir} and could not be downloaded. Put the four files ({names}; "
        f"gzip or uncompressed) in {data_dir}, or pass --data-dir with the folder that holds them."
    )


def download_mnist_file(data_dir: Path, name: str, mirrors: Iterable[str]) -> Path:
    """Fetch `name`.gz from the first mirror that serves the right bytes; verify before keeping it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / f"{name}.gz"
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + f"/{name}.gz"
        try:
            payload = _fetch(url, f"{name}.gz")
            content = gzip.decompress(payload)
        except (urllib.error.URLError, OSError, EOFError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
            continue
        digest = hashlib.sha256(content).hexdigest()
        if digest != MNIST_SHA256[name]:
            errors.append(f"{url}: checksum mismatch (got sha256 {digest})")
            continue
        tmp = target.with_suffix(".part")
        tmp.write_bytes(payload)
        tmp.replace(target)
        return target
    raise DataError(_missing_message(data_dir) + " Tried: " + "; ".join(errors))


def _fetch(url: str, label: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        total = int(response.headers.get("Content-Length") or 0)
        chunks = []
        progress = Progress(total or None, f"downloading {label}", unit="B")
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
            progress.advance(len(chunk))
        progress.close()
    return b"".join(chunks)


def mnist_inputs(images: np.ndarray, label: str = "preprocessing MNIST") -> np.ndarray:
    """MNIST digits (N, 28, 28) -> their preprocessed grey inputs (N, 28, 28) float32."""
    out = np.zeros(images.shape, np.float32)
    progress = Progress(len(images), label)
    for i, image in enumerate(images):
        # a near-empty MNIST digit stays an empty input, as the network would see it
        with contextlib.suppress(BlankDrawing):
            out[i] = preprocess(image).grey
        progress.advance()
    progress.close()
    return out


def pack_mnist(data_dir: str | Path, out_dir: Path = BUNDLED_DIR) -> list[Path]:
    """Preprocess and binarise both MNIST splits from `data_dir` into `out_dir`/mnist-{train,test}.npz."""
    written = []
    for split in MNIST_FILES:
        images, labels = load_mnist(data_dir, split)
        bits = binarize(mnist_inputs(images, f"preprocessing MNIST {split}")).reshape(len(images), -1)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"mnist-{split}.npz"
        save_arrays(path, {"bits": np.packbits(bits, axis=1), "labels": labels})
        written.append(path)
    return written


def bundled_mnist(split: str, folder: Path = BUNDLED_DIR) -> tuple[np.ndarray, np.ndarray]:
    """The packaged binary MNIST `split`: inputs (N, 28, 28) uint8 of 0/1, as the networks see them, and labels."""
    path = folder / f"mnist-{split}.npz"
    try:
        with np.load(path, allow_pickle=False) as npz:
            packed, labels = npz["bits"], npz["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            f"The packaged MNIST {split} set {path} cannot be read ({exc}); remake it with "
            "`digitpad pack-mnist --data-dir DIR`."
        ) from exc
    bits = np.unpackbits(packed, axis=1, count=28 * 28).reshape(-1, 28, 28)
    return bits, labels


# --- UCI pendigits (UNIPEN format) ---


@dataclass(frozen=True)
class PenDigit:
    label: int
    writer: int
    strokes: tuple[np.ndarray, ...]  # each (n, 2) of (x, y) in canvas orientation (y down), 0..500


def load_pendigits(path: str | Path) -> list[PenDigit]:
    """Parse UNIPEN `.SEGMENT DIGIT`, `.COMMENT label writer index`, `.PEN_DOWN ... .PEN_UP` blocks."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Pen digits file {path} does not exist.")
    digits: list[PenDigit] = []
    label = writer = -1
    strokes: list[np.ndarray] = []
    points: list[tuple[int, int]] | None = None

    def flush() -> None:
        if label >= 0 and strokes:
            digits.append(PenDigit(label, writer, tuple(strokes)))

    for line in _read_maybe_gzip(path).decode("ascii", "replace").splitlines():
        if line.startswith(".SEGMENT"):
            flush()
            label, writer, strokes = int(line.rsplit('"', 2)[1]), -1, []
        elif line.startswith(".COMMENT") and label >= 0:
            writer = int(line.split()[2])
        elif line.startswith(".PEN_DOWN"):
            points = []
        elif line.startswith(".PEN_UP"):
            if points:
                xy = np.array(points, np.float32)
                xy[:, 1] = 500 - xy[:, 1]  # the tablet's y points up, a canvas's down
                strokes.append(xy)
            points = None
        elif points is not None and line.strip():
            x, y = line.split()[:2]
            points.append((int(x), int(y)))
    flush()
    if not digits:
        raise DataError(f"{path} holds no UNIPEN digits.")
    return digits


def save_pen_digits(digits: list[PenDigit], path: Path) -> None:
    """Pen digits as a compact .npz: every point (P, 2) int16, where each stroke and digit ends, labels, writers."""
    strokes = [stroke for digit in digits for stroke in digit.strokes]
    np.savez_compressed(
        path,
        points=np.concatenate(strokes).round().astype(np.int16),
        stroke_ends=np.cumsum([len(stroke) for stroke in strokes]).astype(np.int32),
        digit_ends=np.cumsum([len(digit.strokes) for digit in digits]).astype(np.int32),
        labels=np.array([digit.label for digit in digits], np.uint8),
        writers=np.array([digit.writer for digit in digits], np.int16),
    )


def load_pen_digits(path: Path) -> list[PenDigit]:
    """The pen digits `save_pen_digits` wrote."""
    with np.load(path, allow_pickle=False) as npz:
        points, stroke_ends, digit_ends = npz["points"].astype(np.float32), npz["stroke_ends"], npz["digit_ends"]
        labels, writers = npz["labels"], npz["writers"]
    strokes = np.split(points, stroke_ends[:-1])
    per_digit = np.split(np.arange(len(strokes)), digit_ends[:-1])
    return [
        PenDigit(int(label), int(writer), tuple(strokes[i] for i in indices))
        for label, writer, indices in zip(labels, writers, per_digit, strict=True)
    ]


def pendigit_inputs(
    digits: list[PenDigit],
    pen_widths: Iterable[float],
    rng: np.random.Generator | None = None,
    strokes: StrokeAugmentation | None = None,
    variants: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Render each digit `variants` times per pen width and preprocess: (N, 28, 28) grey, labels.

    With rng, each pen width is jittered by up to 15 %. The first rendering of a digit at each width
    is the digit as it was written; with an active `strokes` and rng, the others are new variations
    of its strokes (without them, copies with another jitter of the width).
    """
    widths = list(pen_widths)
    vary = strokes if strokes is not None and strokes.active else None
    jobs = [(w, v, d) for w in widths for v in range(variants) for d in digits]
    grey = np.zeros((len(jobs), 28, 28), np.float32)
    labels = np.zeros(len(grey), np.uint8)
    progress = Progress(len(grey), "rendering pen digits")
    for i, (width, variant, digit) in enumerate(jobs):
        jitter = rng.uniform(0.85, 1.15) if rng is not None else 1.0
        lines: Sequence[np.ndarray] = digit.strokes
        if variant > 0 and vary is not None and rng is not None:
            lines = vary.apply(digit.strokes, digit.label, rng)
        with contextlib.suppress(BlankDrawing):
            grey[i] = preprocess(render_strokes(lines, pen_width=width * jitter)).grey
        labels[i] = digit.label
        progress.advance()
    progress.close()
    return grey, labels


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
