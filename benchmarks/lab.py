"""The training lab: how fast a run starts and ends, what an epoch costs, what a training job does to the
predictions everyone else is waiting for, and how much memory a job takes.

1. The logreg preset (10,000 digits, 5 epochs) through a live two-worker `digitpad serve`, as compose
   runs it: from POST to its first progress event and to its `done`, for fresh seeds (no cache), and a
   repeat of one (a replay from the cache).
2. One epoch over all 60,000 MNIST training digits with `train.train`, for the lab's default mlp
   (100 sigmoid units) and the shipped mlp's size (512), batches of 64, in this process, one BLAS thread.
3. `POST /api/predict` (the page's canvas PNG, with activations) on the live server from 2 connections:
   p50 and p99 while idle, while one training job runs, and idle again.
4. Each training process's peak RSS (`ru_maxrss`, reported in its `done`) for a few runs up to the
   largest the lab allows.

Nothing here asserts a speed; it prints everything needed to read the figures, the load average first
and last. Run from the repository root:

    python -m benchmarks.lab [--seconds 10] [--skip-memory]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from typing import Any

import httpx

from app.core.process import one_blas_thread

one_blas_thread()  # before NumPy is imported: the lab's training processes run with one BLAS thread too
import numpy as np  # noqa: E402

from benchmarks.common import ROOT, cpu_model, table  # noqa: E402
from tests import servers  # noqa: E402
from tests.web.sse import parse  # noqa: E402

CANVAS_PNG = ROOT / "tests" / "data" / "canvas-7.png"
PRESET = {"architecture": "logreg", "train_size": 10_000, "epochs": 5, "batch_size": 64, "learning_rate": 0.05}
LOAD_JOB = {"architecture": "mlp", "hidden": [512], "activation": "sigmoid", "train_size": 50_000, "epochs": 50}
MEMORY_RUNS = {
    "logreg, 10,000 digits": {"architecture": "logreg", "train_size": 10_000, "epochs": 1},
    "mlp 100, 50,000 digits": {"architecture": "mlp", "train_size": 50_000, "epochs": 1},
    "cnn, 50,000 digits, batch 1024": {
        "architecture": "cnn",
        "hidden": [1024],
        "train_size": 50_000,
        "epochs": 1,
        "batch_size": 1024,
    },
    "mlp 1024-1024, 50,000 digits, batch 1024": {
        "architecture": "mlp",
        "hidden": [1024, 1024],
        "train_size": 50_000,
        "epochs": 1,
        "batch_size": 1024,
    },
}


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def machine() -> str:
    return (
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores; load average {load()} (1, 5, 15 min)\n"
        f"- Python {platform.python_version()}, NumPy {np.__version__}; OPENBLAS_CORETYPE="
        f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')}"
    )


def timed_run(base: str, settings: dict[str, Any]) -> tuple[float, float | None, float, str, dict[str, Any]]:
    """POST, then the events: seconds to the first progress event and to the final one, its kind, its data."""
    start = time.perf_counter()
    job = httpx.post(f"{base}/api/training", json=settings, timeout=30).json()
    first = None
    kinds: list[str] = []
    with httpx.stream("GET", base + job["events"], timeout=600) as response:
        lines: list[str] = []
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("event: "):
                kinds.append(line[7:])
                if first is None and line == "event: progress":
                    first = time.perf_counter() - start
    end = time.perf_counter() - start
    final = parse(lines)[-1]
    return float(job.get("cached", False)), first, end, kinds[-1], final.data


def preset_figures(base: str, repeats: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for seed in range(100, 100 + repeats):
        _cached, first, end, kind, data = timed_run(base, {**PRESET, "seed": seed})
        metrics = data.get("metrics", {})
        rows.append(
            [
                f"seed {seed}",
                f"{first:.2f} s" if first else "-",
                f"{end:.2f} s",
                kind,
                f"{100 * metrics.get('validation', {}).get('accuracy', 0):.2f} %",
                f"{metrics.get('wall_time_s', 0):.2f} s",
                f"{metrics.get('peak_rss_mb', 0):.0f} MB",
                load(),
            ]
        )
    _, first, end, kind, data = timed_run(base, {**PRESET, "seed": 100})
    rows.append(
        [
            "seed 100 again (cached)",
            f"{first:.3f} s" if first else "-",
            f"{end:.3f} s",
            kind,
            f"{100 * data['metrics']['validation']['accuracy']:.2f} %",
            "-",
            "-",
            load(),
        ]
    )
    return rows


def epoch_figures() -> list[list[object]]:
    from app.nn import lab
    from app.nn.train import Dataset, train

    data = lab.lab_data()
    x = np.concatenate([data.pool_x, data.val_x])
    y = np.concatenate([data.pool_y, data.val_y])
    rows: list[list[object]] = []
    for units in (100, 512):
        settings = lab.LabSettings.make("mlp", hidden=[units], epochs=1, train_size=50_000)
        dataset = Dataset(x, y, data.val_x[:1], data.val_y[:1], None, None)
        start = time.perf_counter()
        # validate: nothing, so the epoch is the 938 steps alone
        train("mlp", lab.recipe(settings), dataset, architecture=lab.architecture(settings), validate=lambda n: {})
        seconds = time.perf_counter() - start
        rows.append([f"mlp {units} sigmoid", f"{len(x):,}", f"{seconds:.2f} s", f"{len(x) / seconds:,.0f}", load()])
    return rows


def latencies(base: str, seconds: float, connections: int = 2) -> tuple[float, float, int]:
    body = CANVAS_PNG.read_bytes()
    samples: list[float] = []
    stop = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while time.monotonic() < stop:
                start = time.perf_counter()
                response = http.post("/api/predict", content=body, headers={"Content-Type": "image/png"})
                samples.append(time.perf_counter() - start)
                assert response.status_code == 200

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(samples)


def prediction_figures(base: str, seconds: float) -> tuple[list[list[object]], str]:
    rows: list[list[object]] = []
    idle = latencies(base, seconds)
    rows.append(["idle", f"{idle[0]:.2f} ms", f"{idle[1]:.2f} ms", idle[2], "", load()])
    job = httpx.post(f"{base}/api/training", json=LOAD_JOB, timeout=30).json()
    deadline = time.monotonic() + 120
    while (status := httpx.get(f"{base}/api/training/{job['id']}", timeout=30).json())["status"] != "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    time.sleep(2)  # past its start-up, into its steps
    before = httpx.get(f"{base}/api/training/{job['id']}", timeout=30).json().get("progress") or {}
    busy = latencies(base, seconds)
    after = httpx.get(f"{base}/api/training/{job['id']}", timeout=30).json().get("progress") or {}
    steps = (after.get("step", 0) - before.get("step", 0)) / max(
        after.get("elapsed_s", 1) - before.get("elapsed_s", 0), 1e-9
    )
    rows.append(
        [
            "one training job running",
            f"{busy[0]:.2f} ms",
            f"{busy[1]:.2f} ms",
            busy[2],
            f"{steps:.0f} steps/s ({steps * 64:,.0f} digits/s)",
            load(),
        ]
    )
    httpx.delete(f"{base}/api/training/{job['id']}", timeout=30)
    time.sleep(2)
    again = latencies(base, seconds)
    rows.append(["idle again", f"{again[0]:.2f} ms", f"{again[1]:.2f} ms", again[2], "", load()])
    ratio = busy[1] / min(idle[1], again[1])
    return rows, f"p99 with a job running / idle p99: {ratio:.2f}"


def memory_figures(base: str) -> list[list[object]]:
    rows: list[list[object]] = []
    for label, settings in MEMORY_RUNS.items():
        _, _, end, kind, data = timed_run(base, settings)
        metrics = data.get("metrics", {})
        rows.append(
            [
                label,
                kind,
                f"{metrics.get('peak_rss_mb', 0):.0f} MB",
                f"{metrics.get('peak_address_space_mb', 0):.0f} MB",
                f"{end:.1f} s",
                load(),
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of load per latency phase")
    parser.add_argument("--repeats", type=int, default=3, help="fresh runs of the logreg preset")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the peak RSS runs (minutes)")
    args = parser.parse_args(argv)
    print("## The training lab\n")
    print(machine() + "\n")
    with tempfile.TemporaryDirectory(prefix="digitpad-bench-lab-") as folder:
        env = {
            "DIGITPAD_DATA_DIR": folder,
            "DIGITPAD_LOG_LEVEL": "warning",
            "DIGITPAD_TRAINING_MAX_SECONDS": "900",
            "DIGITPAD_TRAINING_PER_CLIENT": "10",
        }
        server = servers.start(env, workers=2)
        try:
            print("### The logreg preset through a live two-worker server (POST to events)\n")
            print(
                table(
                    ["run", "first progress", "done", "ended", "validation", "training", "peak RSS", "load"],
                    preset_figures(server.url, args.repeats),
                )
            )
            print("\n### /api/predict (canvas PNG, activations) from 2 connections\n")
            rows, ratio = prediction_figures(server.url, args.seconds)
            print(table(["phase", "p50", "p99", "requests", "the job", "load"], rows))
            print(f"\n{ratio}")
            if not args.skip_memory:
                print("\n### Peak RSS of a training process\n")
                print(
                    table(
                        ["run (1 epoch)", "ended", "peak RSS", "peak address space", "POST to end", "load"],
                        memory_figures(server.url),
                    )
                )
        finally:
            servers.stop(server)
    print("\n### One epoch over 60,000 digits, in this process, one BLAS thread\n")
    print(table(["network", "digits", "epoch", "digits/s", "load"], epoch_figures()))
    print(f"\nload average at the end: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
