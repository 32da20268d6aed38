"""What every benchmark shares: the machine it ran on, interleaved timing, inputs and a Markdown table.

Times on a shared machine drift, so each benchmark runs its contenders in alternating blocks within one
process and reports medians and their ratio: a load that comes and goes slows both sides alike.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MNIST_DIR = ROOT / "tests" / "data"
ENV_KEYS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas() -> str:
    """Which BLAS library and kernel NumPy runs, as threadpoolctl reports it."""
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    return (
        "; ".join(
            f"{p['internal_api']} {p.get('version')} {p.get('architecture')} kernel, {p['num_threads']} thread(s)"
            for p in pools
        )
        or "unknown"
    )


def describe_machine(malloc: str) -> str:
    """A few lines to print above a table, so a figure always travels with where it was measured."""
    env = ", ".join(f"{key}={os.environ[key]}" for key in ENV_KEYS if key in os.environ) or "none set"
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores; load average {load}\n"
        f"- Python {platform.python_version()}, NumPy {np.__version__}, BLAS: {blas()}\n"
        f"- environment: {env}; {malloc}"
    )


def interleaved(
    contenders: dict[str, Callable[[], object]], repeats: int, block: int = 10, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call of each contender, run in alternating blocks of `block` calls."""
    times = interleaved_samples(contenders, repeats, block, warmup)
    return {name: float(np.median(samples)) for name, samples in times.items()}


def interleaved_samples(
    contenders: dict[str, Callable[[], object]], repeats: int, block: int = 10, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds of each call of each contender after `warmup` calls each, in order, run in alternating
    blocks of `block` calls."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    clock = time.perf_counter
    while len(next(iter(times.values()))) < repeats:
        for name, fn in contenders.items():
            samples = times[name]
            for _ in range(block):
                start = clock()
                fn()
                samples.append(clock() - start)
    return times


def mnist_inputs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n MNIST test digits as the networks see them, (n, 28, 28, 1) float32 0/1, and labels."""
    from app.nn import data
    from app.nn.preprocess import binarize

    images, labels = data.load_mnist(MNIST_DIR, "test", download=False)
    grey = data.mnist_inputs(images[:n], label=f"preprocessing {n} MNIST test digits")
    return binarize(grey)[..., None].astype(np.float32), labels[:n]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile of the values, one of them (the higher of two neighbours); NaN for none."""
    return float(np.percentile(values, q, method="higher")) if len(values) else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, numbers right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return (
            "| "
            + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
            + " |"
        )

    rule = "| " + " | ".join("-" * w if i == 0 else "-" * (w - 1) + ":" for i, w in enumerate(widths)) + " |"
    return "\n".join([line(cells[0]), rule, *[line(row) for row in cells[1:]]])


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.3f} s"


def tune_malloc(args: argparse.Namespace) -> str:
    """Apply the allocator settings the server and `digitpad train` use, unless --system-malloc; says which."""
    if args.system_malloc:
        return "glibc malloc defaults"
    from app.core.process import keep_freed_memory

    if keep_freed_memory():
        return "malloc keeps freed blocks (app.core.process, as the server and `digitpad train` do)"
    return "glibc malloc defaults"


def add_malloc_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="leave glibc's malloc thresholds at their defaults (to measure what the settings buy)",
    )
