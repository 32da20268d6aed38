"""A model's stimulus index: what each unit learned, computed once per model and shipped beside it.

For every unit of every visible layer (a conv or pool unit is a whole feature map, its activation the
maximum over positions): the TOP MNIST test digits that excite it most, with for a feature map the input
window its strongest position sees (its receptive field), and its optimal stimulus (`explain.py`).
Output units are ranked by their logit, since their probability saturates, among the digits the network
reads as theirs with probability >= SURE (a heavy 8 can raise the logit of a 2 above any real 2's).

The index is one `<model>.stimuli.npz` beside `<model>.npz`: arrays plus a JSON header that records the
SHA-256 of the model file and of the test digits it was built from, so a server can refuse an index that
no longer describes its model. `digitpad index` builds it; loading never unpickles.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.nn import explain
from app.nn.files import UNREADABLE, load_with_meta, save_arrays
from app.nn.judge import SUFFIX as JUDGE_SUFFIX
from app.nn.layers import DTYPE, Array, softmax
from app.nn.network import LayerInfo, Model, Network

FORMAT = "digitpad-stimuli"
FORMAT_VERSION = 1
SUFFIX = ".stimuli.npz"
SOURCE = "mnist-test"
TOP = 9
SURE = 0.95  # an output unit's top stimuli are digits the network reads as its digit at least this surely
CHUNK = 250  # test digits a forward pass takes while the index is built: conv1's maps stay under 10 MB


class StimulusIndexError(Exception):
    """An index that is missing, unreadable, or built for another model file; the message says what to do."""


def index_path(model_path: Path) -> Path:
    """Where the index of a model file lives: model/cnn.npz -> model/cnn.stimuli.npz."""
    return model_path.with_name(model_path.stem + SUFFIX)


def source_digest(bits: Array, labels: Array) -> str:
    """SHA-256 of the test digits an index points into, so an index outlives no change to them."""
    digest = hashlib.sha256(np.packbits(bits.reshape(len(bits), -1), axis=1).tobytes())
    digest.update(np.asarray(labels, np.uint8).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class TopStimulus:
    source: int  # index into the MNIST test set
    label: int
    activation: float  # what /api/predict reports for this unit on that digit
    logit: float | None  # output units: the score they are ranked by
    box: tuple[int, int, int, int] | None  # feature maps: [x, y, w, h] of the window the strongest position sees


@dataclass(frozen=True)
class UnitStimuli:
    layer: str
    unit: int
    top: list[TopStimulus]
    optimal: Array  # (28, 28) float32 in [0, 1]
    optimal_activation: float
    optimal_logit: float | None


@dataclass
class StimulusIndex:
    meta: dict[str, Any]
    arrays: dict[str, Array]
    path: Path | None = None

    @property
    def layers(self) -> list[str]:
        return [layer["name"] for layer in self.meta["layers"]]

    def unit(self, layer: str, unit: int) -> UnitStimuli:
        """One unit's stimuli. Raises KeyError for a layer the index has not, IndexError for a unit out of range."""
        if layer not in self.layers:
            raise KeyError(layer)
        top = self.arrays[f"{layer}.top"]
        if not 0 <= unit < len(top):
            raise IndexError(unit)
        labels, acts = self.arrays[f"{layer}.label"][unit], self.arrays[f"{layer}.activation"][unit]
        logits = self.arrays.get(f"{layer}.logit")
        boxes = self.arrays.get(f"{layer}.box")
        stimuli = [
            TopStimulus(
                int(top[unit, i]),
                int(labels[i]),
                float(acts[i]),
                None if logits is None else float(logits[unit, i]),
                None if boxes is None else (int(boxes[unit, i, 0]), *map(int, boxes[unit, i, 1:])),  # type: ignore[arg-type]
            )
            for i in range(top.shape[1])
        ]
        optimal_logits = self.arrays.get(f"{layer}.optimal_logit")
        return UnitStimuli(
            layer,
            unit,
            stimuli,
            self.arrays[f"{layer}.optimal"][unit].astype(DTYPE) / 255,
            float(self.arrays[f"{layer}.optimal_activation"][unit]),
            None if optimal_logits is None else float(optimal_logits[unit]),
        )

    def check(self, model_sha256: str, source_sha256: str) -> None:
        """Raises StimulusIndexError unless the index was built from this model file and these test digits."""
        where = self.path or "the stimulus index"
        if self.meta.get("model_sha256") != model_sha256:
            raise StimulusIndexError(
                f"Stimulus index {where} was built for another model file (SHA-256 "
                f"{str(self.meta.get('model_sha256'))[:12]}..., the model's is {model_sha256[:12]}...); "
                f"rebuild it with `digitpad index`."
            )
        if self.meta.get("source_sha256") != source_sha256:
            raise StimulusIndexError(
                f"Stimulus index {where} points into other MNIST test digits than the packaged ones; "
                f"rebuild it with `digitpad index`."
            )

    def save(self, path: Path) -> None:
        save_arrays(path, self.arrays, self.meta)
        self.path = path


def load_index(path: Path) -> StimulusIndex:
    """Read an index file without unpickling anything. Raises StimulusIndexError."""
    if not path.is_file():
        raise StimulusIndexError(f"Stimulus index {path} does not exist; build it with `digitpad index`.")
    try:
        meta, arrays = load_with_meta(path)
    except UNREADABLE as exc:
        raise StimulusIndexError(
            f"Stimulus index {path} is not readable ({exc}); rebuild it with `digitpad index`."
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise StimulusIndexError(
            f"Stimulus index {path} is not a version {FORMAT_VERSION} DigitPad index; rebuild it with `digitpad index`."
        )
    return StimulusIndex(meta, arrays, path)


# --- building ---


def indexed_layers(network: Network) -> list[LayerInfo]:
    """The layers whose units the page shows and the index describes: every visible layer but the input."""
    return network.visible[1:]


def unit_values(
    network: Network, x: Array, means: dict[str, list[Array]] | None = None
) -> dict[str, tuple[Array, Array | None, Array | None]]:
    """For a batch x (B, 28, 28), per indexed layer: each unit's activation (B, units) as /api/predict
    reports it; for a feature map where its maximum is, (B, units, 2) as (y, x), and for the output the
    logits (B, 10); else None."""
    infos = {info.index: info for info in indexed_layers(network)}
    a = np.asarray(x, DTYPE).reshape((len(x), *network.arch.input_shape))
    values: dict[str, tuple[Array, Array | None, Array | None]] = {}
    for i, layer in enumerate(network.layers):
        a = layer.forward(a)
        info = infos.get(i)
        if info is None:
            continue
        if info.kind == "output":
            values[info.name] = (softmax(a), None, a)
        elif a.ndim == 4:  # (B, H, W, C): a map's activation is its maximum over positions
            b, h, w, c = a.shape
            flat = a.reshape(b, h * w, c)
            where = flat.argmax(axis=1)  # (B, C), the first maximum in row-major order
            best = np.take_along_axis(flat, where[:, None, :], axis=1)[:, 0]
            values[info.name] = (best, np.stack(np.divmod(where, w), axis=-1), None)
            if means is not None:
                means[info.name].append(flat.mean(axis=1))
        else:
            values[info.name] = (a, None, None)
    return values


def receptive_field(network: Network, layer_name: str, y: int, x: int) -> tuple[int, int, int, int]:
    """The input window [x, y, w, h] that position (y, x) of a feature map layer sees, clipped to the input.
    Raises ValueError for a layer that changes the map's size in a way not known here."""
    stop = explain.pre_activation(network, layer_name)
    y0, y1, x0, x1 = y, y, x, x
    shapes = [network.arch.input_shape, *network.shapes]
    for i in range(stop, -1, -1):
        layer, before, after = network.layers[i], shapes[i], shapes[i + 1]
        if before[:2] == after[:2]:  # element-wise: activations, dropout, normalisation
            continue
        if layer.kind == "conv":
            k = int(getattr(layer, "kernel", 1))
            stride, pad = int(getattr(layer, "stride", 1)), int(getattr(layer, "padding", 0))
        elif layer.kind == "pool":
            k = stride = int(getattr(layer, "size", 2))
            pad = 0
        else:
            raise ValueError(f"no receptive field rule for a {layer.kind!r} layer")
        y0, y1 = y0 * stride - pad, y1 * stride - pad + k - 1
        x0, x1 = x0 * stride - pad, x1 * stride - pad + k - 1
    h, w = network.arch.input_shape[:2]
    y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, h - 1), min(x1, w - 1)
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1


def build_index(
    model: Model,
    model_sha256: str,
    bits: Array,
    labels: Array,
    recipe: explain.StimulusRecipe = explain.DEFAULT_RECIPE,
    report: Callable[[str, int], None] | None = None,
) -> StimulusIndex:
    """The index of a model over test digits `bits` (N, 28, 28) of 0/1. `report(stage, n)` hears progress:
    ("digits", n) as test digits go through, ("units", n) as optimal stimuli are found."""
    start = time.perf_counter()
    network = model.network
    infos = indexed_layers(network)
    # pass 1: every test digit's ranking score for every unit: its activation (an output's logit), and
    # for a feature map its mean over positions too, which breaks the ties binary inputs make common.
    # An output unit ranks first the digits the network reads as its digit with probability >= SURE.
    scores: dict[str, list[Array]] = {info.name: [] for info in infos}
    spread: dict[str, list[Array]] = {info.name: [] for info in infos}
    sure: list[Array] = []
    for begin in range(0, len(bits), CHUNK):
        batch = bits[begin : begin + CHUNK]
        for name, (act, _, logit) in unit_values(network, batch, means=spread).items():
            scores[name].append(logit if logit is not None else act)
            if logit is not None:
                sure.append(act >= SURE)
        if report:
            report("digits", len(batch))
    arrays: dict[str, Array] = {}
    layers_meta = []
    for info in infos:
        ranking = np.concatenate(scores.pop(info.name))  # (N, units)
        parts = spread.pop(info.name)
        means = np.concatenate(parts) if parts else np.zeros_like(ranking)
        first = np.concatenate(sure) if info.kind == "output" else np.ones(ranking.shape, bool)
        keys = [(-means[:, u], -ranking[:, u], ~first[:, u]) for u in range(ranking.shape[1])]
        top = np.stack([np.lexsort(key)[:TOP] for key in keys])
        top = top.astype(np.int32)  # (units, TOP), best first; ties go to the earlier digit
        arrays.update(_top_arrays(network, info, top, bits, labels))
        optimal = explain.optimal_stimuli(network, info.name, np.arange(top.shape[0]), recipe)
        arrays.update(_optimal_arrays(network, info, optimal))
        if report:
            report("units", top.shape[0])
        layers_meta.append({"name": info.name, "kind": info.kind, "units": int(top.shape[0])})
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.name,
        "model_sha256": model_sha256,
        "source": SOURCE,
        "source_sha256": source_digest(bits, labels),
        "top": TOP,
        "layers": layers_meta,
        "optimal_recipe": recipe.to_json(),
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    return StimulusIndex(meta, arrays)


def _top_arrays(network: Network, info: LayerInfo, top: Array, bits: Array, labels: Array) -> dict[str, Array]:
    """The top digits of every unit of a layer, their activations computed one digit at a time exactly as
    /api/predict computes them, and for feature maps the window around each one's strongest position."""
    units = top.shape[0]
    act = np.empty(top.shape, np.float32)
    logit = np.empty(top.shape, np.float32)
    box = np.empty((*top.shape, 4), np.int16)
    values = {int(s): unit_values(network, bits[s][None].astype(DTYPE))[info.name] for s in np.unique(top)}
    for u in range(units):
        for i, s in enumerate(top[u]):
            a, where, z = values[int(s)]
            act[u, i] = a[0, u]
            if z is not None:
                logit[u, i] = z[0, u]
            if where is not None:
                y, x = where[0, u]
                box[u, i] = receptive_field(network, info.name, int(y), int(x))
    out = {f"{info.name}.top": top, f"{info.name}.label": labels[top].astype(np.uint8), f"{info.name}.activation": act}
    if info.kind == "output":
        out[f"{info.name}.logit"] = logit
    if len(info.shape) == 3:
        out[f"{info.name}.box"] = box
    return out


def _optimal_arrays(network: Network, info: LayerInfo, optimal: Array) -> dict[str, Array]:
    """Optimal stimuli stored as bytes (value = byte / 255), with each unit's activation on exactly the
    stored input."""
    stored = np.round(optimal * 255).astype(np.uint8)
    act, _, logit = unit_values(network, stored.astype(DTYPE) / 255)[info.name]
    units = np.arange(len(stored))
    out: dict[str, Array] = {
        f"{info.name}.optimal": stored,
        f"{info.name}.optimal_activation": act[units, units].astype(np.float32),
    }
    if logit is not None:
        out[f"{info.name}.optimal_logit"] = logit[units, units].astype(np.float32)
    return out


# --- every model of a folder ---


@dataclass(frozen=True)
class IndexResult:
    model: str
    path: Path
    seconds: float = 0.0
    size: int = 0
    error: str | None = None


def index_paths_for(folder: Path) -> list[Path]:
    """The model files of a folder (not their indexes or judges, nor files being written)."""
    return sorted(
        p
        for p in folder.glob("*.npz")
        if not p.name.endswith((SUFFIX, JUDGE_SUFFIX)) and not p.name.endswith(".tmp.npz")
    )


def write_indexes(folder: Path, bits: Array, labels: Array) -> list[IndexResult]:
    """Build the index of every model file in `folder` that its SHA256SUMS vouches for, write each beside
    its model and record the written ones in SHA256SUMS. A model that is not vouched for or not readable
    gets an error in its result and keeps no index: a server would not load it anyway."""
    from app.nn import manifest
    from app.nn.network import ModelFileError, load_model
    from app.nn.progress import Progress

    results = []
    for path in index_paths_for(folder):
        out = index_path(path)
        try:
            manifest.verify(path)
            model = load_model(path)
        except ModelFileError as exc:
            results.append(IndexResult(path.stem, out, error=str(exc)))
            continue
        units = sum(
            info.shape[-1] if len(info.shape) == 3 else int(np.prod(info.shape))
            for info in indexed_layers(model.network)
        )
        progress = Progress(len(bits) + units, f"indexing {path.name}")
        start = time.perf_counter()

        def report(stage: str, n: int, bar: Progress = progress) -> None:
            bar.advance(n, stage)

        index = build_index(model, manifest.sha256(path), bits, labels, report=report)
        index.save(out)
        progress.close("done")
        manifest.write_manifest(folder, [out.name])
        results.append(IndexResult(path.stem, out, time.perf_counter() - start, out.stat().st_size))
    return results
