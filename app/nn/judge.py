"""How likely a piece of a number's ink is one whole digit: not two digits that touch, not a part of one.

The network was trained on whole digits, so it reads almost anything as one with confidence: two 4s
squeezed together as a 4, the left stroke of a 0 as a 1. The judge is a small network of the package's
own layers (one hidden layer of ReLU units, then a softmax over "not one digit" and "one whole digit")
that reads what the network's last hidden layer makes of the piece, its ten log-probabilities and the
piece's shape (how wide for its height, and both against the number's digit height). It is fitted by
maximum likelihood with mini-batch SGD and momentum to the pieces the segmentation finds and cuts in
numbers written with the strokes of the pendigits training writers, each labelled by whether it is one
of the digits the number was written with (`app.nn.judge_fit`). `segment` adds the log of its answer,
weighted, to each piece's score, so it tries cuts where a piece is likely not one digit and keeps the cuts whose
pieces are likely digits.

A judge reads one network's hidden layer, so it is kept beside that network's model file (`cnn.npz` ->
`cnn.judge.npz`) with the SHA-256 of the model file it was fitted to; a model without one reads numbers
by the network's confidence and the digits' usual widths alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.nn.files import UNREADABLE, load_with_meta, save_arrays
from app.nn.layers import DTYPE, Dense, ReLU
from app.nn.manifest import sha256
from app.nn.network import ModelFileError
from app.nn.optim import SGD, softmax_cross_entropy

SUFFIX = ".judge.npz"
FORMAT = "digitpad-piece-judge"
FORMAT_VERSION = 1
HIDDEN_UNITS = 32


def judge_path(model_path: Path) -> Path:
    """Where the judge of a model file is kept: beside it, `cnn.npz` -> `cnn.judge.npz`."""
    return model_path.with_name(model_path.name.removesuffix(".npz") + SUFFIX)


def piece_features(
    probs: np.ndarray, hidden: np.ndarray, widths: np.ndarray, heights: np.ndarray, digit_height: float
) -> np.ndarray:
    """(N, units + 18) features of N pieces: the network's hidden activations and log-probabilities, the two
    largest of those, and the logs of width / height, width / digit height and height / digit height, with
    their squares (a piece much too wide or too narrow either way is less likely a digit)."""
    log_p = np.log(np.maximum(probs, 1e-12))
    top_two = -np.sort(-log_p, axis=1)[:, :2]
    shape = np.log(np.stack([widths / heights, widths / digit_height, heights / digit_height], axis=1))
    return np.concatenate([hidden, log_p, top_two, shape, shape**2], axis=1).astype(np.float64)


class PieceJudge:
    """A fitted judge: the features' standardisation, then Dense -> ReLU -> Dense over two classes."""

    def __init__(
        self,
        mean: np.ndarray,
        scale: np.ndarray,
        hidden: Dense,
        output: Dense,
        model_sha256: str,
        meta: dict[str, object],
    ) -> None:
        self.mean, self.scale = mean.astype(DTYPE), scale.astype(DTYPE)
        self.hidden, self.relu, self.output = hidden, ReLU(), output
        self.model_sha256 = model_sha256  # of the model file whose hidden layer it reads
        self.meta = meta  # how it was fitted, and how well

    @property
    def feature_count(self) -> int:
        return int(self.mean.size)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(N, 2) logits of "not one digit" and "one whole digit" for features from `piece_features`."""
        if features.shape[1] != self.feature_count:
            raise ValueError(f"the judge reads {self.feature_count} features, it was given {features.shape[1]}")
        x = (features.astype(DTYPE) - self.mean) / self.scale
        return self.output.forward(self.relu.forward(self.hidden.forward(x)))

    def log_probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, 2) the logs of the probabilities of "not one digit" and "one whole digit"."""
        z = self.logits(features).astype(np.float64)
        return z - np.logaddexp(z[:, :1], z[:, 1:])

    def log_whole(
        self, probs: np.ndarray, hidden: np.ndarray, widths: np.ndarray, heights: np.ndarray, digit_height: float
    ) -> np.ndarray:
        """(N,) the log-probability that each piece is one whole digit."""
        return self.log_probabilities(piece_features(probs, hidden, widths, heights, digit_height))[:, 1]

    def log_likelihood(self, features: np.ndarray, labels: np.ndarray) -> float:
        """The mean log-likelihood of labels (N,) of 0/1 under the judge."""
        return float(np.mean(self.log_probabilities(features)[np.arange(len(labels)), labels]))

    def save(self, path: Path) -> None:
        meta = {**self.meta, "format": FORMAT, "format_version": FORMAT_VERSION, "model_sha256": self.model_sha256}
        arrays = {
            "mean": self.mean,
            "scale": self.scale,
            **{f"{name}.{key}": value for name, layer in self._layers() for key, value in layer.params.items()},
        }
        save_arrays(path, arrays, meta)

    def _layers(self) -> list[tuple[str, Dense]]:
        return [("hidden", self.hidden), ("output", self.output)]


def judge_for(model_path: Path) -> PieceJudge | None:
    """The judge kept beside a model file, or None when there is none. Raises ModelFileError, naming
    the file, for one that cannot be read or was fitted to another model file (or another version of
    this one): it would weigh pieces by some other network's hidden layer."""
    where = judge_path(model_path)
    if not where.is_file():
        return None
    judge = load_judge(where)
    if judge.model_sha256 != sha256(model_path):
        raise ModelFileError(
            f"Piece judge {where} was fitted to another model file than {model_path.name}; fit it again "
            f"with `digitpad fit-judge`, or remove it."
        )
    return judge


def load_judge(path: Path) -> PieceJudge:
    """Read a judge file without unpickling anything. Raises ModelFileError, naming the file."""
    try:
        meta, arrays = load_with_meta(path)
    except UNREADABLE as exc:
        raise ModelFileError(f"Piece judge {path} is not readable ({exc}).") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a DigitPad piece judge.")
    if not isinstance(meta.get("format_version"), int) or meta["format_version"] > FORMAT_VERSION:
        raise ModelFileError(f"Piece judge {path} is of a newer format than this DigitPad reads.")
    try:
        mean, scale = arrays["mean"], arrays["scale"]
        layers = [_dense(arrays[f"{name}.W"], arrays[f"{name}.b"]) for name in ("hidden", "output")]
    except KeyError as exc:
        raise ModelFileError(f"Piece judge {path} lacks its weights ({exc}).") from exc
    hidden, output = layers
    if hidden.params["W"].ndim != 2:
        raise ModelFileError(f"Piece judge {path} has weights of mismatched shapes.")
    features, units = hidden.params["W"].shape
    if not (
        mean.shape == scale.shape == (features,)
        and np.all(scale > 0)
        and hidden.params["b"].shape == (units,)
        and output.params["W"].shape == (units, 2)
        and output.params["b"].shape == (2,)
    ):
        raise ModelFileError(f"Piece judge {path} has weights of mismatched shapes.")
    others = {k: v for k, v in meta.items() if k not in ("format", "format_version", "model_sha256")}
    return PieceJudge(mean, scale, hidden, output, str(meta.get("model_sha256", "")), others)


def _dense(weights: np.ndarray, bias: np.ndarray) -> Dense:
    layer = Dense(weights.shape[1] if weights.ndim == 2 else 0)
    layer.params = {"W": weights.astype(DTYPE), "b": bias.astype(DTYPE)}
    return layer


def fit_judge(
    features: np.ndarray,
    labels: np.ndarray,
    model_sha256: str,
    units: int = HIDDEN_UNITS,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> PieceJudge:
    """A judge fitted to features (N, F) from `piece_features` and labels (N,) of 0/1 (1: one whole digit):
    the features standardised, then mini-batch SGD with momentum on the softmax cross-entropy, the
    negative log-likelihood. Deterministic for a seed."""
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    x = ((features - mean) / scale).astype(DTYPE)
    y = labels.astype(np.int64)
    rng = np.random.default_rng(seed)
    hidden, output = Dense(units), Dense(2, init="xavier")
    hidden.init((x.shape[1],), rng)
    output.init((units,), rng)
    relu = ReLU()
    sgd = SGD([hidden, output], lr, momentum, weight_decay)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            logits = output.forward(relu.forward(hidden.forward(x[batch], train=True), train=True), train=True)
            _, delta = softmax_cross_entropy(logits, y[batch])
            hidden.backward_params(relu.backward(output.backward(delta)))
            sgd.step()
    return PieceJudge(mean, scale, hidden, output, model_sha256, {})
