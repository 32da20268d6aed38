"""Explanations: the deletion test of every attribution method, POST /api/explain's latency on a live
server, and what building each model's stimulus index takes. Run from the repository root:

    python -m benchmarks.explain [--parts deletion,latency,index] [--requests 300]

- deletion: for each shipped model and method, on 200 MNIST test digits (every 50th) and 120 pen-stroke
  digits rendered the way the pad draws them (60 of unseen writers), the first guess's mean probability
  drop when the 15 % of its ink with the highest attribution is erased, against erasing a random 15 %
  (8 draws), and the ratio.
  The method with the highest ratios ships (app/nn/explain.py SHIPPED_METHOD).
- latency: a one-worker `digitpad serve`; sequential POST /api/explain requests with the page's body
  (`{"bits"}` of the drawing it just guessed) and with the page's canvas PNG, then POST /api/predict
  for comparison. The server's own time is the sum of its `timings_ms`; the round trip is on loopback.
- index: `build_index` for each shipped model into a temporary folder: seconds and bytes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from app.nn import explain, manifest
from app.nn.data import bundled_mnist, load_pen_digits
from app.nn.network import load_model
from app.nn.preprocess import preprocess
from app.nn.stimuli import build_index
from app.nn.strokes import render_strokes
from benchmarks.common import ROOT, describe_machine, table, tune_malloc
from tests import servers
from tests.factories import DIGIT_STROKES, TEST_DATA_DIR, stroke_image

MODELS = ("cnn", "mlp", "logreg")
CANVAS_PNG = ROOT / "tests" / "data" / "canvas-7.png"


def pen_inputs() -> np.ndarray:
    """120 pen-stroke digits as the pad draws them: every 25th held-out digit of writers the models never
    trained on, and each digit of tests.factories at three sizes and two pen widths."""
    held_out = load_pen_digits(TEST_DATA_DIR / "pen-strokes-held-out.npz")[::25]
    out = [preprocess(render_strokes(digit.strokes)).bits for digit in held_out]
    out += [
        preprocess(np.asarray(stroke_image(strokes, pen=pen, scale=scale))).bits
        for strokes in DIGIT_STROKES.values()
        for scale in (0.7, 0.85, 1.0)
        for pen in (0.06, 0.09)
    ]
    return np.array(out, np.float32)


def deletion(models: list[str]) -> str:
    bits, _ = bundled_mnist("test")
    sets = {"MNIST test": bits[::50][:200].astype(np.float32), "pen strokes": pen_inputs()}
    rows = []
    for name in models:
        network = load_model(ROOT / "model" / f"{name}.npz").network
        for method in explain.METHODS:
            row: list[object] = [name, method + (" (ships)" if method == explain.SHIPPED_METHOD else "")]
            for inputs in sets.values():
                rng = np.random.default_rng(0)
                drops = np.array([explain.deletion_drops(network, x, method, rng=rng) for x in inputs])
                top, rand = drops.mean(axis=0)
                row += [f"{top:.3f}", f"{rand:.3f}", f"{top / rand:.1f}"]
            start = time.perf_counter()
            for x in sets["pen strokes"][:20]:
                explain.attribution(network, x, [0, 1], method)
            row.append(f"{(time.perf_counter() - start) / 20 * 1000:.1f} ms")
            rows.append(row)
            print(f"  {name} {method} done", file=sys.stderr)
    headers = ["model", "method"]
    for label in sets:
        headers += [f"{label}: top 15 %", "random 15 %", "ratio"]
    return table([*headers, "2 maps, in-process"], rows)


def latency(requests: int) -> str:
    png = CANVAS_PNG.read_bytes()
    rows = []
    with (
        servers.running(env={"DIGITPAD_LOG_LEVEL": "warning"}, workers=1) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        bits = client.post("/api/predict?activations=false", content=png, headers={"content-type": "image/png"})
        body = {"bits": bits.json()["input"]["bits"]}
        cases = {
            "explain, {bits} (what the page sends)": lambda: client.post("/api/explain", json=body),
            "explain, canvas PNG": lambda: client.post(
                "/api/explain", content=png, headers={"content-type": "image/png"}
            ),
            "predict with activations, canvas PNG": lambda: client.post(
                "/api/predict", content=png, headers={"content-type": "image/png"}
            ),
        }
        for label, send in cases.items():
            for _ in range(20):  # warm-up
                send()
            server_ms, trip_ms = [], []
            for _ in range(requests):
                start = time.perf_counter()
                response = send()
                trip_ms.append((time.perf_counter() - start) * 1000)
                response.raise_for_status()
                server_ms.append(sum(response.json()["timings_ms"].values()))
            rows.append([label, *_quantiles(server_ms), *_quantiles(trip_ms)])
    return table(["request (cnn)", "server median", "server p99", "round trip median", "round trip p99"], rows)


def _quantiles(ms: list[float]) -> list[str]:
    cuts = statistics.quantiles(ms, n=100)
    return [f"{statistics.median(ms):.1f} ms", f"{cuts[98]:.1f} ms"]


def index(models: list[str]) -> str:
    bits, labels = bundled_mnist("test")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in models:
            path = ROOT / "model" / f"{name}.npz"
            model = load_model(path)
            start = time.perf_counter()
            built = build_index(model, manifest.sha256(path), bits, labels)
            seconds = time.perf_counter() - start
            out = Path(folder) / f"{name}.stimuli.npz"
            built.save(out)
            units = sum(layer["units"] for layer in built.meta["layers"])
            rows.append([name, units, f"{seconds:.1f} s", f"{out.stat().st_size / 1e3:.0f} KB"])
    return table(["model", "units", "build time", "index size"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="deletion,latency,index")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--system-malloc", action="store_true")
    args = parser.parse_args(argv)
    malloc = tune_malloc(args)
    models = args.models.split(",")
    parts = args.parts.split(",")
    print(describe_machine(malloc) + "\n")
    if "deletion" in parts:
        print("Deletion test (mean drop of the first guess's probability)\n\n" + deletion(models) + "\n")
    if "latency" in parts:
        print(f"POST /api/explain, {args.requests} sequential requests, one worker\n\n" + latency(args.requests) + "\n")
    if "index" in parts:
        print("Stimulus index, built in-process\n\n" + index(models) + "\n")
    print(describe_machine(malloc).splitlines()[0] + " (at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
