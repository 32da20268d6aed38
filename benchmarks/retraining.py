"""Retraining on corrections: does a set of corrections from new writers help the cnn read other new writers?

The six pendigits writers no shipped model trains on (tests/data/pen-strokes-held-out.npz) are split in
two. Writers 5, 15 and 25 play the people at the pad: each of their digits, drawn with the pad's round pen
at the two pen widths of the pen-stroke figure, is posted as a PNG to a live `digitpad serve` running a
baseline cnn; every misread is corrected with POST /api/corrections, and (in the second variant) every
right guess confirmed. `digitpad corrections export` writes them out, and the cnn is trained again with
the same recipe and seed plus `--extra`. Writers 10, 20 and 30, drawn the same way, are the test: nobody's
model has seen them, and none of their digits is a correction.

Training runs are `digitpad train cnn` with the shipped recipe but fewer epochs (`--epochs`, default 4),
and optionally the first `--limit` MNIST digits only, so that a run takes minutes; MNIST and the pendigits
training file come from the command line. Without
`--pendigits` the baseline knows MNIST only, the way a demo starts before anyone has drawn on it, and the
corrections are the only pen strokes it ever trains on:

    python -m benchmarks.retraining --mnist DIR [--pendigits pendigits-orig.tra.gz] [--epochs 4] [--limit N]
        [--seeds 1 2]
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from app.nn.data import load_pen_digits, pendigit_inputs
from app.nn.evaluate import accuracy_report, predict_batches
from app.nn.network import load_model
from app.nn.preprocess import binarize
from app.nn.strokes import render_strokes
from app.nn.train import PEN_VALIDATION_WIDTHS
from benchmarks.common import ROOT, cpu_model, table
from tests import servers
from tests.factories import TEST_DATA_DIR

CORRECTING_WRITERS = (5, 15, 25)
TEST_WRITERS = (10, 20, 30)


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def run(command: list[str], env: dict[str, str] | None = None) -> None:
    print(f"+ {shlex.join(command)}", flush=True)
    subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})}, check=True, stderr=subprocess.DEVNULL)


def train(out: Path, args: argparse.Namespace, seed: int, extra: Path | None = None) -> Path:
    command = [sys.executable, "-m", "app", "train", "cnn", "--data-dir", str(args.mnist)]
    command += ["--pendigits", str(args.pendigits)] if args.pendigits else []
    command += ["--epochs", str(args.epochs), "--seed", str(seed)]
    command += ["--limit", str(args.limit)] if args.limit else []
    command += ["--out", str(out)] + (["--extra", str(extra)] if extra else [])
    started = time.monotonic()
    run(command)
    print(f"  {time.monotonic() - started:.0f} s, load average {load()}", flush=True)
    return out


def png(strokes: tuple[np.ndarray, ...], width: float) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(render_strokes(strokes, pen_width=width)).save(buffer, format="PNG")
    return buffer.getvalue()


def collect(model_dir: Path, data_dir: Path, confirm: bool) -> tuple[int, int]:
    """The correcting writers' digits through a live server on the baseline: corrections of its misreads
    and, with `confirm`, confirmations of its right guesses. How many of each were saved."""
    digits = [d for d in load_pen_digits(TEST_DATA_DIR / "pen-strokes-held-out.npz") if d.writer in CORRECTING_WRITERS]
    env = {
        "DIGITPAD_MODEL_DIR": str(model_dir),
        "DIGITPAD_MODELS": "cnn",
        "DIGITPAD_DATA_DIR": str(data_dir),
        "DIGITPAD_CORRECTIONS_RATE_LIMIT": "1000000",
        "DIGITPAD_LOG_LEVEL": "warning",
    }
    corrected = confirmed = 0
    with servers.running(env=env) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for width in PEN_VALIDATION_WIDTHS:
            for digit in digits:
                image = png(digit.strokes, width)
                headers = {"Content-Type": "image/png"}
                answer = client.post("/api/predict?activations=false", content=image, headers=headers).json()
                guess = answer["prediction"]
                if guess == digit.label and not confirm:
                    continue
                params = {"label": digit.label, "guess": guess, "model": "cnn"}
                saved = client.post("/api/corrections", params=params, content=image, headers=headers)
                saved.raise_for_status()
                corrected += guess != digit.label
                confirmed += guess == digit.label
    return corrected, confirmed


def test_accuracy(model_path: Path) -> tuple[float, int]:
    digits = [d for d in load_pen_digits(TEST_DATA_DIR / "pen-strokes-held-out.npz") if d.writer in TEST_WRITERS]
    grey, labels = pendigit_inputs(digits, PEN_VALIDATION_WIDTHS)
    report = accuracy_report(predict_batches(load_model(model_path).network, binarize(grey)), labels)
    return report["accuracy"], len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", type=Path, required=True, help="folder with MNIST's IDX files")
    parser.add_argument("--pendigits", type=Path, help="UCI pendigits-orig.tra(.gz); without it, MNIST only")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--limit", type=int, help="train on the first LIMIT MNIST digits only")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--keep", type=Path, help="keep the models and exports in this folder")
    args = parser.parse_args()

    print(f"- CPU: {cpu_model()}, {os.cpu_count()} cores; load average at the start {load()}")
    digits = f"the first {args.limit:,}" if args.limit else "all 60,000"
    pen = f"pen strokes from {args.pendigits.name}" if args.pendigits else "no pen strokes"
    print(f"- training: the cnn's recipe, {args.epochs} epochs, {digits} MNIST training digits, {pen}")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="digitpad-retraining-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        base = train(folder / f"seed{seed}" / "base" / "cnn.npz", args, seed)
        base_accuracy, n = test_accuracy(base)
        rows.append([seed, "baseline", "-", f"{100 * base_accuracy:.2f} %", _mnist(base), ""])
        for variant, confirm in (("misreads corrected", False), ("misreads corrected, right guesses confirmed", True)):
            name = "all" if confirm else "misreads"
            data_dir = folder / f"seed{seed}" / f"data-{name}"
            corrected, confirmed = collect(base.parent, data_dir, confirm)
            export = folder / f"seed{seed}" / f"corrections-{name}.npz"
            run(
                [sys.executable, "-m", "app", "corrections", "export", "--out", str(export)],
                {"DIGITPAD_DATA_DIR": str(data_dir)},
            )
            model = train(folder / f"seed{seed}" / name / "cnn.npz", args, seed, export)
            accuracy, _ = test_accuracy(model)
            delta = f"{100 * (accuracy - base_accuracy):+.2f} points"
            rows.append(
                [seed, f"+ {variant}", f"{corrected} + {confirmed}", f"{100 * accuracy:.2f} %", _mnist(model), delta]
            )
    print(f"\n- load average at the end {load()}; models and exports in {folder}")
    print(f"- test: writers {', '.join(map(str, TEST_WRITERS))}, {n} drawings (pen widths {PEN_VALIDATION_WIDTHS})\n")
    headers = ["seed", "training", "corrections + confirmations", "unseen writers", "MNIST test", "change"]
    print(table(headers, rows))


def _mnist(path: Path) -> str:
    return f"{100 * load_model(path).meta['metrics']['test']['accuracy']:.2f} %"


if __name__ == "__main__":
    main()
