"""How a DigitPad process is set up: one BLAS thread per worker, and an allocator that keeps the large
NumPy temporaries it allocates over and over.

Allocator: glibc's malloc serves each block above 128 KB (a batch's im2col matrix, a layer's activations) with
a fresh mmap and unmaps it on free, so every batch faults its pages in anew: a few thousand page
faults a batch, a tenth to a fifth of a training step or a 256-image forward pass. Raising the mmap
and trim thresholds keeps freed blocks in the heap for the next batch. The environment variables
MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ do the same, but only when set before the process
starts; this works from inside it, and leaves alone a process where either variable is set.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest glibc accepts: blocks up to 32 MB come from the heap
TRIM_THRESHOLD = 256 * 1024 * 1024  # free memory kept at the top of the heap before it is returned
# One BLAS thread per worker process: each request already runs on its own thread, and several
# workers each spawning a thread per core would fight over the same cores.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """Ask BLAS for one thread unless the environment says otherwise; only works before NumPy is imported."""
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


def keep_freed_memory() -> bool:
    """Have malloc reuse freed large blocks instead of returning them; False where it does not apply."""
    if not sys.platform.startswith("linux") or any(
        name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    ):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, say)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
