"""Training jobs: the lab's runs, queued, trained in processes of their own, cached, and kept where every
worker process of a server sees them.

A *run* is one set of normalised settings (plus the code and data it trains with): its cache key names
it, so the same settings and seed are trained once and replayed after. A *job* is what one request made:
a client's handle on a run. Several jobs can share a run (a class pressing Start on the same preset);
cancelling a job stops its run only when no other job is watching it.

Everything is in files under `<data_dir>/training/`, changed under an flock(2) that every worker takes:

    lock                  held around every change to the queue
    active.json           keys of the runs queued or training, oldest first
    runs/<key>/
        state.json        settings, status, times, the processes involved, metrics
        events.jsonl      its events, one a line (`kind<TAB>json`); an event's id is its line number
        model.npz         the trained model, once done, in the shipped model format
        clients/<job>     one per job watching the run: its mtime is when that job's client was last heard
        heartbeat         rewritten every half second by the process training it, with its progress
        cancel            asks that process to stop
        used              touched when the run's model is used: the cache keeps what is used
        trainer.log       that process's output
    jobs/<id>.json        a job: its run, its client, and where it was cancelled

Each worker runs a dispatcher (`tick`) that starts queued runs while fewer than `training_workers` train,
notices a training process that exited or stopped answering, cancels runs nobody watches any more, and
deletes old runs and jobs. A run's files and reading its events are in app.core.runs, its trained model by
name in app.core.trained, the process that trains it in app.core.trainer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.errors import DigitPadError
from app.core.runs import (
    JOB_ID,
    SERVER_STOPPED,
    EventFeed,
    RunFiles,
    age,
    cache_key,
    model_name,
    mtime,
    read_json,
    touch,
    write_json,
)
from app.core.trained import TrainedModels
from app.nn import lab

if TYPE_CHECKING:
    from app.config import Settings

logger = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
CACHED = ("done", "diverged")  # outcomes a repeated run replays: the same settings give the same run
STALE_S = 30.0  # a training process silent this long, whose worker is not watching it, is taken for dead
BUSY_TICK_S = 0.25  # dispatcher rounds while runs are queued or training...
IDLE_TICK_S = 1.0  # ...and while none are (a request in this worker wakes it at once)
CLEANUP_EVERY_S = 30.0
STOP_GRACE_S = 3.0  # a training process's time to stop on SIGTERM before SIGKILL


class UnknownJob(DigitPadError):
    def __init__(self, job_id: str, ttl: float) -> None:
        super().__init__(
            "unknown_job",
            f"There is no training job {job_id!r} here; jobs are kept for {ttl / 60:g} minutes after their "
            "last use. Start it again with POST /api/training.",
        )


class TooBusy(DigitPadError):
    """Too many runs queued, or too many of one client's; `retry_after` is a guess in seconds."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__("too_busy", detail)
        self.retry_after = retry_after


class NoModel(DigitPadError):
    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(
            "no_model",
            f"Training job {job_id!r} has no model: it is {status}. A model is there once the job is done.",
        )


class LabUnavailable(DigitPadError):
    def __init__(self, reason: str) -> None:
        super().__init__("not_ready", f"The training lab is unavailable: {reason}")


@dataclass(frozen=True)
class Limits:
    """The lab's bounds, from the settings."""

    workers: int
    queue: int
    per_client: int
    max_epochs: int
    max_examples: int
    max_seconds: float
    max_memory_mb: int
    client_grace: float
    ttl: float
    max_runs: int
    models_in_memory: int
    nice: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            workers=settings.training_workers,
            queue=settings.training_queue,
            per_client=settings.training_per_client,
            max_epochs=settings.training_max_epochs,
            max_examples=settings.training_max_examples,
            max_seconds=settings.training_max_seconds,
            max_memory_mb=settings.training_max_memory_mb,
            client_grace=settings.training_client_grace,
            ttl=settings.training_ttl,
            max_runs=settings.training_max_runs,
            models_in_memory=settings.training_models_in_memory,
            nice=settings.training_nice,
        )


# --- jobs as the API shows them ---


@dataclass
class JobView:
    id: str
    status: str
    key: str
    settings: dict[str, Any]
    parameters: int
    created: float
    model: str | None = None
    started: float | None = None
    finished: float | None = None
    queue_position: int | None = None
    progress: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    detail: str | None = None
    cached: bool = False


# --- the service ---


class TrainingService:
    """The lab as one worker process sees it: submitting, watching and cancelling jobs, and the dispatcher
    that starts and minds the training processes this worker owns."""

    def __init__(self, settings: Settings) -> None:
        self.limits = Limits.of(settings)
        self.root = settings.data_dir / "training"
        self.runs = self.root / "runs"
        self.jobs = self.root / "jobs"
        self.lock_path = self.root / "lock"
        self.active_path = self.root / "active.json"
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.models = TrainedModels(self.runs, self.limits.ttl, self.limits.models_in_memory)
        self.unavailable: str | None = None
        self.last_cleanup = 0.0
        try:
            for folder in (self.runs, self.jobs):
                folder.mkdir(parents=True, exist_ok=True)
            self.lock_path.touch()
        except OSError as exc:
            self.unavailable = (
                f"its data folder {settings.data_dir} cannot be written ({exc.strerror or exc}); set "
                "DIGITPAD_DATA_DIR to a writable folder."
            )
            logger.error("Training lab off: %s", self.unavailable)

    # --- locking and the queue ---

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The queue's lock: held by one thread of one process of the server at a time."""
        if self.unavailable:
            raise LabUnavailable(self.unavailable)
        with self.lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _active(self) -> list[str]:
        value = read_json(self.active_path) or {}
        keys = value.get("runs", [])
        return [k for k in keys if isinstance(k, str)]

    def _save_active(self, keys: list[str]) -> None:
        write_json(self.active_path, {"runs": keys})

    def run_files(self, key: str) -> RunFiles:
        return RunFiles(self.runs / key)

    # --- requests ---

    def submit(self, given: dict[str, Any], client: str) -> JobView:
        """A job for these settings: a replay of the cached run, a seat on the same run already under way,
        or a new run in the queue. Raises DigitPadError invalid_request, TooBusy."""
        settings = self.settings_of(given)
        key = cache_key(settings)
        run = self.run_files(key)
        now = time.time()
        with self.locked():
            state = run.state()
            status = state.get("status") if state else None
            cached = status in CACHED and (status == "diverged" or run.model_path.is_file())
            if not cached and status not in ACTIVE:
                states = {k: self.run_files(k).state() or {} for k in self._active()}
                active = [k for k, st in states.items() if st.get("status") in ACTIVE]
                if len(active) >= self.limits.workers + self.limits.queue:
                    raise TooBusy(
                        f"The training queue is full: {len(active)} runs are training or waiting, "
                        f"{self.limits.workers + self.limits.queue} at most. Try again in a minute.",
                        self._retry_after(active),
                    )
                mine = [k for k in active if states[k].get("client") == client]
                if len(mine) >= self.limits.per_client:
                    raise TooBusy(
                        f"You already have {len(mine)} run{'s' * (len(mine) != 1)} training or waiting, the most "
                        "one client may have; wait for one to finish, or stop it.",
                        self._retry_after(mine),
                    )
                run.reset()
                state = {
                    "key": key,
                    "settings": settings.to_json(),
                    "parameters": lab.parameter_count(settings),
                    "status": "queued",
                    "created": now,
                    "client": client,
                }
                run.write_state(state)
                self._save_active([*active, key])
            job_id = secrets.token_hex(8)
            write_json(self.jobs / f"{job_id}.json", {"id": job_id, "key": key, "client": client, "created": now})
            if cached:
                touch(run.used)
            else:
                run.clients.mkdir(exist_ok=True)
                touch(run.clients / job_id)
            return self._view(job_id)

    def settings_of(self, given: dict[str, Any]) -> lab.LabSettings:
        """Settings from a request, within this server's caps (a setting left out is at most the cap).
        Raises DigitPadError invalid_request."""
        given = {key: value for key, value in given.items() if value is not None}
        architecture = given.pop("architecture", None)
        given.setdefault("epochs", min(lab.LIMITS["epochs"].default, self.limits.max_epochs))
        given.setdefault("train_size", min(lab.LIMITS["train_size"].default, self.limits.max_examples))
        try:
            settings = lab.LabSettings.make(str(architecture), **given)
        except lab.LabSettingsError as exc:
            raise DigitPadError("invalid_request", str(exc)) from exc
        if settings.epochs > self.limits.max_epochs:
            raise DigitPadError(
                "invalid_request",
                f"`epochs` is {settings.epochs}; this server trains for {self.limits.max_epochs} epochs at most.",
            )
        if settings.train_size > self.limits.max_examples:
            raise DigitPadError(
                "invalid_request",
                f"`train_size` is {settings.train_size:,}; this server trains on {self.limits.max_examples:,} "
                "digits at most.",
            )
        return settings

    def job(self, job_id: str, heard: bool = True) -> JobView:
        """A job's status now; `heard` records that its client is still there. Raises UnknownJob."""
        view = self._view(job_id)
        if heard and view.status in ACTIVE:
            touch(self.run_files(view.key).clients / job_id)
        return view

    def cancel(self, job_id: str) -> JobView:
        """Stops a job; its run stops too unless another job is watching it. Raises UnknownJob."""
        with self.locked():
            job = self._job(job_id)
            run = self.run_files(job["key"])
            state = run.state() or {}
            if state.get("status") in ACTIVE and job.get("cancelled_after") is None:
                job["cancelled_after"] = run.event_count()
                write_json(self.jobs / f"{job_id}.json", job)
                (run.clients / job_id).unlink(missing_ok=True)
                if not run.watched(time.time(), self.limits.client_grace):
                    if state["status"] == "queued":
                        self._finish(run, state, "cancelled", {"detail": "Cancelled before it started."})
                        self._save_active([k for k in self._active() if k != run.key])
                    else:
                        touch(run.cancel_marker)
            return self._view(job_id)

    def feed(self, job_id: str, after: int = 0) -> EventFeed:
        """A reader of the job's events after id `after`. Raises UnknownJob."""
        job = self._job(job_id)
        return EventFeed(self.run_files(job["key"]), self.jobs / f"{job_id}.json", job_id, after)

    def model_file(self, job_id: str) -> tuple[Path, str]:
        """The job's model file and its model's name. Raises UnknownJob, NoModel."""
        view = self._view(job_id)
        run = self.run_files(view.key)
        if view.status != "done" or not run.model_path.is_file():
            raise NoModel(job_id, view.status)
        touch(run.used)
        return run.model_path, model_name(view.key)

    def _job(self, job_id: str) -> dict[str, Any]:
        job = read_json(self.jobs / f"{job_id}.json") if JOB_ID.match(job_id) else None
        if job is None or not isinstance(job.get("key"), str):
            raise UnknownJob(job_id, self.limits.ttl)
        return job

    def _view(self, job_id: str) -> JobView:
        job = self._job(job_id)
        run = self.run_files(job["key"])
        state = run.state()
        if state is None:
            raise UnknownJob(job_id, self.limits.ttl)
        status = state["status"]
        cancelled = job.get("cancelled_after") is not None and status in (*ACTIVE, "cancelled")
        view = JobView(
            id=job_id,
            status="cancelled" if cancelled else status,
            key=run.key,
            settings=state["settings"],
            parameters=state.get("parameters", 0),
            created=job["created"],
            started=state.get("started"),
            finished=state.get("finished"),
            metrics=state.get("metrics"),
            detail=state.get("detail"),
            cached=state.get("finished") is not None and state["finished"] < job["created"],
        )
        if cancelled and status != "cancelled":
            view.detail = "This job was stopped; the run goes on for the others watching it."
        if view.status == "done":
            view.model = model_name(run.key)
        if view.status == "queued":
            queued = [k for k in self._active() if (self.run_files(k).state() or {}).get("status") == "queued"]
            view.queue_position = queued.index(run.key) + 1 if run.key in queued else None
        if view.status == "running":
            view.progress = run.progress()
        return view

    def _retry_after(self, keys: list[str]) -> int:
        """A guess at the seconds until one of these runs ends: from the running ones' progress."""
        guesses = []
        for key in keys:
            progress = self.run_files(key).progress() or {}
            step, steps, elapsed = progress.get("step"), progress.get("steps"), progress.get("elapsed_s")
            if step and steps and elapsed:
                guesses.append(elapsed * (steps - step) / step)
        return int(min(max(min(guesses, default=10.0), 1.0), 120.0)) + 1

    def _finish(self, run: RunFiles, state: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
        """Ends a run that no process trains (any more): its state, then its final event. Under the lock."""
        state.update(status=kind, finished=time.time(), detail=data.get("detail"))
        run.write_state(state)
        last = run.last_event()
        if last is None or not last.final:
            run.append_event(kind, data)

    # --- the dispatcher ---

    def tick(self) -> bool:
        """One round of the dispatcher; whether runs are queued or training. Never raises for a run's
        sake: each run's trouble is that run's error."""
        if self.unavailable:
            return False
        now = time.time()
        with self.locked():
            active = self._active()
            keep: list[str] = []
            queued: list[str] = []
            running = 0
            for key in active:
                run = self.run_files(key)
                state = run.state()
                if state is None or state.get("status") not in ACTIVE:
                    continue
                if state["status"] == "running":
                    if self._still_training(run, state, now):
                        keep.append(key)
                        running += 1
                elif not run.watched(now, self.limits.client_grace):
                    self._finish(run, state, "cancelled", {"detail": "Cancelled: every client watching it had gone."})
                else:
                    keep.append(key)
                    queued.append(key)
            for key in queued[: max(self.limits.workers - running, 0)]:
                self._start(self.run_files(key))
            if keep != active:
                self._save_active(keep)
            if now - self.last_cleanup > CLEANUP_EVERY_S:
                self.last_cleanup = now
                self._clean_up(now, set(keep))
        for key, child in list(self.children.items()):
            if key not in keep and child.poll() is not None:
                del self.children[key]
        return bool(keep)

    def _still_training(self, run: RunFiles, state: dict[str, Any], now: float) -> bool:
        child = self.children.get(run.key)
        if child is not None:
            code = child.poll()
            if code is None:
                return True
            del self.children[run.key]
            state = run.state() or state
            if state.get("status") in ACTIVE:
                self._finish(run, state, "error", {"detail": _exit_detail(code, self.limits.max_memory_mb)})
            return False
        if age(run.heartbeat, now) <= STALE_S or now - state.get("started", now) <= STALE_S:
            return True  # another worker's, and alive
        with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
            os.kill(state.get("trainer"), signal.SIGKILL)  # type: ignore[arg-type]
        self._finish(
            run,
            state,
            "error",
            {
                "detail": "The training process stopped answering, and the server worker that ran it is gone; start "
                "the run again."
            },
        )
        return False

    def _start(self, run: RunFiles) -> None:
        state = run.state() or {}
        options = {
            "max_seconds": self.limits.max_seconds,
            "max_memory_mb": self.limits.max_memory_mb,
            "client_grace": self.limits.client_grace,
            "nice": self.limits.nice,
        }
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        try:
            with run.log.open("ab") as log:
                child = subprocess.Popen(
                    [sys.executable, "-m", "app.core.trainer", str(run.folder), json.dumps(options)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # a Ctrl+C meant for the server is the server's to pass on
                )
        except OSError as exc:
            self._finish(run, state, "error", {"detail": f"The training process could not start ({exc})."})
            return
        self.children[run.key] = child
        state.update(status="running", started=time.time(), trainer=child.pid, owner=os.getpid())
        run.write_state(state)

    def _clean_up(self, now: float, active: set[str]) -> None:
        """Deletes runs unused for the time to live, then the least recently used past the cap; and jobs
        whose run is gone or that nobody has asked about for the time to live."""
        finished = []
        for folder in self.runs.iterdir():
            if folder.name in active or not folder.is_dir():
                continue
            run = RunFiles(folder)
            state = run.state() or {}
            last = max(state.get("finished") or 0, mtime(run.used), mtime(run.state_path))
            if now - last > self.limits.ttl:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                finished.append((last, folder))
        finished.sort()
        for _, folder in finished[: max(len(finished) - self.limits.max_runs, 0)]:
            shutil.rmtree(folder, ignore_errors=True)
        for path in self.jobs.glob("*.json"):
            job = read_json(path) or {}
            folder = self.runs / str(job.get("key"))
            heard = max(mtime(path), mtime(folder / "clients" / path.stem))
            if not folder.is_dir() or now - heard > self.limits.ttl:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        """Stops this worker's training processes (SIGTERM, then SIGKILL) and ends their runs."""
        children = dict(self.children)
        for child in children.values():
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for child in children.values():
            try:
                child.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if not children or self.unavailable:
            return
        with self.locked():
            for key in children:
                run = self.run_files(key)
                state = run.state() or {}
                if state.get("status") in ACTIVE:
                    self._finish(run, state, "error", {"detail": SERVER_STOPPED})
            self._save_active([k for k in self._active() if k not in children])
        self.children.clear()


def _exit_detail(code: int, max_memory_mb: int) -> str:
    if code == -signal.SIGKILL:
        return (
            "The training process was killed (SIGKILL), most likely for memory; train on fewer digits or a "
            f"smaller network (each run may use {max_memory_mb:,} MB)."
        )
    if code < 0:
        return f"The training process was stopped by signal {signal.Signals(-code).name}; start the run again."
    return f"The training process failed (exit status {code}) before it finished; start the run again."
