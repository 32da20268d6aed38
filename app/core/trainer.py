"""The process that trains one lab run, started by a server worker's dispatcher:

    python -m app.core.trainer RUN_FOLDER OPTIONS_JSON

It trains what the run's state.json says, appends its events to events.jsonl, writes model.npz, and ends
the run itself: done, diverged, cancelled or error, with a sentence. It runs with one BLAS thread (its
environment says so), at a lower priority than the workers answering predictions (`nice`), in a bounded
address space (`max_memory_mb`), for at most `max_seconds`. A watcher thread rewrites its heartbeat every
half second and stops the run when it is asked to (the `cancel` file), when every client watching it has
gone, when SIGTERM arrives, or when the worker that started it is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.core.runs import HEARTBEAT_S, SERVER_STOPPED, RunFiles, model_name, write_json
from app.nn import lab

MiB = 1024 * 1024
PROGRESS_FIGURES = (
    "epoch",
    "epochs",
    "step",
    "steps",
    "log_likelihood",
    "loss",
    "train_accuracy",
    "validation_accuracy",
    "validation_log_likelihood",
    "examples_per_s",
)


class Watcher(threading.Thread):
    """Beats the heart and decides when the run must stop; `reason` is why (None: keep going)."""

    def __init__(self, run: RunFiles, client_grace: float) -> None:
        super().__init__(name="watcher", daemon=True)
        self.files, self.client_grace = run, client_grace
        self.parent = os.getppid()
        self.reason: str | None = None
        self.outcome = "cancelled"  # or "error", for a stop nobody asked for
        self.progress: dict[str, Any] = {}
        self.started = time.monotonic()
        self.done = threading.Event()

    def stop(self, reason: str, outcome: str = "cancelled") -> None:
        if self.reason is None:
            self.reason, self.outcome = reason, outcome

    def should_stop(self) -> str | None:
        return self.reason

    def run(self) -> None:
        while not self.done.wait(HEARTBEAT_S):
            self.beat()

    def beat(self) -> None:
        now = time.time()
        progress = {**self.progress, "pid": os.getpid(), "elapsed_s": round(time.monotonic() - self.started, 2)}
        with contextlib.suppress(OSError):
            write_json(self.files.heartbeat, progress)
        if os.getppid() != self.parent:
            self.stop("The server worker that started this run is gone; start it again.", "error")
        elif self.files.cancel_marker.exists():
            self.stop("Cancelled on request.")
        elif not self.files.watched(now, self.client_grace):
            self.stop(f"Cancelled: every client watching this run had gone for {self.client_grace:g} s.")


@contextlib.contextmanager
def queue_lock(run: RunFiles) -> Iterator[None]:
    """The lock of the training folder the run is in (see app.core.training)."""
    with (run.folder.parent.parent / "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def finish(run: RunFiles, kind: str, data: dict[str, Any], **state_fields: Any) -> None:
    """The run's final state, then its final event, under the queue's lock so nobody sees one without the
    other; unless the server already ended the run (a stop it forced)."""
    with queue_lock(run):
        state = run.state() or {}
        if state.get("status") not in ("queued", "running"):
            return
        state.update(status=kind, finished=time.time(), detail=data.get("detail"), **state_fields)
        run.write_state(state)
        run.append_event(kind, data)


def limit_memory(max_memory_mb: int) -> None:
    if max_memory_mb > 0:
        limit = max_memory_mb * MiB
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def peak_address_space_mb() -> float | None:
    """The most address space the process has held (what `max_memory_mb` bounds), where Linux says."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmPeak:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def train(run: RunFiles, options: dict[str, Any]) -> None:
    state = run.state() or {}
    settings = lab.LabSettings.make(**state["settings"])
    name = model_name(run.key)
    watcher = Watcher(run, float(options.get("client_grace", 30)))
    signal.signal(signal.SIGTERM, lambda signum, frame: watcher.stop(SERVER_STOPPED, "error"))
    watcher.beat()
    watcher.start()

    def emit(kind: str, data: dict[str, Any]) -> None:
        # the figures so far, for GET /api/training/{id}: the last step's, and the last epoch's validation
        watcher.progress = {**watcher.progress, **{k: data[k] for k in PROGRESS_FIGURES if k in data}}
        run.append_event(kind, data)

    max_seconds = float(options.get("max_seconds", 300))
    try:
        result = lab.run(settings, name, emit, watcher.should_stop, max_seconds=max_seconds)
    except lab.Diverged as exc:
        finish(run, "diverged", exc.event())
    except lab.Cancelled as exc:
        finish(run, watcher.outcome, {"detail": str(exc)})
    except lab.TimeLimit as exc:
        finish(run, "error", {"detail": str(exc)})
    except MemoryError:
        limit = int(options.get("max_memory_mb", 0))
        finish(
            run,
            "error",
            {
                "detail": f"The run needed more than its {limit:,} MB of memory; train on fewer digits, with "
                "smaller batches or a smaller network."
            },
        )
    else:
        result.metrics["peak_rss_mb"] = peak_rss_mb()
        result.metrics["peak_address_space_mb"] = peak_address_space_mb()
        result.model.save(run.model_path)
        digest = hashlib.sha256(run.model_path.read_bytes()).hexdigest()
        done = {"model": name, "metrics": result.metrics, "misread": result.misread}
        finish(run, "done", done, model=name, metrics=result.metrics, sha256=digest)
    finally:
        watcher.done.set()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run = RunFiles(Path(args[0]))
    options = json.loads(args[1]) if len(args) > 1 else {}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops it, with SIGTERM
    with contextlib.suppress(OSError):
        os.nice(int(options.get("nice", 10)))
    limit_memory(int(options.get("max_memory_mb", 0)))
    try:
        train(run, options)
    except Exception as exc:  # any failure ends the run as an error with a sentence, never a hung job
        traceback.print_exc()
        finish(
            run, "error", {"detail": f"The training process failed ({type(exc).__name__}: {exc}); start the run again."}
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
