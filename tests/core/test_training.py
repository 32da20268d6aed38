"""Training jobs without the web: the queue and its limits, the cache, cancelling, clients that leave,
training processes that die, clean-up, and trained models found by name. Runs are tiny (a few hundred
digits, one epoch) and really trained, each in a process of its own."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from app.core import runs, training
from app.core.errors import DigitPadError
from app.core.runs import Event
from app.core.trained import UnknownTrainedModel
from app.core.training import TooBusy, TrainingService, UnknownJob
from app.nn import lab
from app.nn.network import load_model
from tests.factories import make_settings

TINY = {"architecture": "logreg", "train_size": 500, "epochs": 1}
# Long enough to be caught running (tens of seconds), stopped well before it ends.
LONG = {"architecture": "mlp", "hidden": [256], "train_size": 20_000, "epochs": 20, "batch_size": 16}
DIVERGING = {"architecture": "mlp", "activation": "relu", "learning_rate": 50.0, "train_size": 500, "epochs": 1}
DEADLINE_S = 60


@pytest.fixture
def service(tmp_path: Path) -> Any:
    made: list[TrainingService] = []

    def make(**overrides: Any) -> TrainingService:
        made.append(TrainingService(make_settings(data_dir=tmp_path, **overrides)))
        return made[-1]

    yield make
    for each in made:
        each.close()


def follow(svc: TrainingService, job_id: str, after: int = 0, touch: bool = True) -> list[Event]:
    """Runs the dispatcher and reads the job's events until its final one."""
    feed = svc.feed(job_id, after)
    events: list[Event] = []
    deadline = time.monotonic() + DEADLINE_S
    while not feed.finished:
        assert time.monotonic() < deadline, f"no final event in {DEADLINE_S} s: {events[-1:]}"
        svc.tick()
        if touch:
            feed.touch()
        events += feed.poll()
        time.sleep(0.05)
    return events


def until(svc: TrainingService, predicate: Any, what: str, touch: list[str] | None = None) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        assert time.monotonic() < deadline, f"never {what}"
        svc.tick()
        for job_id in touch or []:
            svc.job(job_id)
        time.sleep(0.05)


def data(event: Event) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(event.data)
    return value


def test_a_job_trains_reports_and_ends_with_its_model(service):
    svc = service()
    job = svc.submit(TINY, "client-a")
    assert job.status == "queued" and job.queue_position == 1 and job.parameters == 7850
    events = follow(svc, job.id)
    assert [e.kind for e in events[:-1]] == ["progress"] * (len(events) - 1) and events[-1].kind == "done"
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    done = data(events[-1])
    assert done["model"] == f"lab-{job.key}" and done["metrics"]["peak_rss_mb"] > 0
    view = svc.job(job.id)
    assert view.status == "done" and view.model == done["model"] and view.metrics == done["metrics"]
    path, name = svc.model_file(job.id)
    assert name == done["model"] and load_model(path).meta["metrics"]["validation"]["accuracy"] > 0.5
    model = svc.models.find(name)
    assert model.name == name and model.network.parameter_count == 7850


def test_the_same_settings_replay_the_cached_run_at_once(service):
    svc = service()
    first = svc.submit(TINY, "client-a")
    events = follow(svc, first.id)
    trained = svc.run_files(first.key).state()
    again = svc.submit({**TINY, "seed": 1, "momentum": 0.9}, "client-b")  # the defaults, spelt out
    assert again.key == first.key and again.status == "done" and again.cached and again.model == f"lab-{first.key}"
    assert svc.feed(again.id).poll() == events  # every event, in one read
    svc.tick()
    assert svc.run_files(first.key).state() == trained  # and nothing trained again
    other = svc.submit({**TINY, "seed": 2}, "client-b")
    assert other.key != first.key and other.status == "queued"


def test_a_second_job_for_a_run_under_way_joins_it(service):
    svc = service()
    a = svc.submit(LONG, "client-a")
    until(svc, lambda: svc.job(a.id).status == "running", "running", [a.id])
    b = svc.submit(LONG, "client-b")
    assert (b.key, b.status) == (a.key, "running") and len(svc.children) == 1
    svc.cancel(a.id)  # b still watches: the run goes on
    assert svc.job(a.id).status == "cancelled" and svc.job(b.id).status == "running"
    stream = follow(svc, a.id)
    assert stream[-1].kind == "cancelled" and "goes on" in data(stream[-1])["detail"]
    svc.cancel(b.id)  # nobody is left
    final = follow(svc, b.id)
    assert final[-1].kind == "cancelled" and svc.job(b.id).status == "cancelled"


def test_the_queue_and_each_clients_share_of_it_are_bounded(service):
    svc = service(training_workers=1, training_queue=1, training_per_client=1)
    a = svc.submit(LONG, "client-a")
    with pytest.raises(TooBusy) as caught:
        svc.submit({**LONG, "seed": 2}, "client-a")
    assert caught.value.code == "too_busy" and "You already have 1 run" in caught.value.detail
    assert 1 <= caught.value.retry_after <= 121
    b = svc.submit({**LONG, "seed": 3}, "client-b")
    with pytest.raises(TooBusy, match="queue is full"):
        svc.submit({**LONG, "seed": 4}, "client-c")
    until(svc, lambda: svc.job(a.id).status == "running", "running", [a.id, b.id])
    for _ in range(5):  # one worker slot: b waits however many rounds go by
        svc.tick()
        assert (svc.job(a.id).status, svc.job(b.id).status) == ("running", "queued")
    assert svc.job(b.id).queue_position == 1
    svc.cancel(b.id)
    assert svc.job(b.id).status == "cancelled"
    svc.cancel(a.id)
    assert follow(svc, a.id)[-1].kind == "cancelled"
    until(svc, lambda: svc.run_files(a.key).state()["status"] == "cancelled", "stopped")  # type: ignore[index]
    svc.submit({**LONG, "seed": 2}, "client-a")  # room again


def test_a_run_nobody_watches_any_more_is_cancelled(service):
    svc = service(training_client_grace=1.0)
    running = svc.submit(LONG, "client-a")
    until(svc, lambda: svc.job(running.id).status == "running", "running", [running.id])
    events = follow(svc, running.id, touch=False)  # the client went quiet
    assert events[-1].kind == "cancelled" and "every client" in data(events[-1])["detail"]
    queued = svc.submit({**TINY, "seed": 5}, "client-b")
    time.sleep(1.2)
    svc.tick()
    assert svc.job(queued.id, heard=False).status == "cancelled"  # it never started


def test_a_training_process_that_dies_ends_its_run_as_an_error(service):
    svc = service()
    job = svc.submit(LONG, "client-a")
    until(svc, lambda: svc.job(job.id).status == "running", "running", [job.id])
    os.kill(svc.children[job.key].pid, signal.SIGKILL)
    events = follow(svc, job.id)
    assert events[-1].kind == "error" and "killed" in data(events[-1])["detail"]
    assert svc.job(job.id).status == "error"
    again = svc.submit(LONG, "client-a")  # an error is not cached: it trains again
    assert again.key == job.key and again.status == "queued"
    svc.cancel(again.id)


def test_a_run_whose_worker_and_process_vanished_is_ended_by_any_worker(service):
    svc = service()
    job = svc.submit(TINY, "client-a")
    run = svc.run_files(job.key)
    state = run.state()
    assert state is not None
    # as if a worker that has since died had started it long ago, and its process had stopped beating
    state.update(status="running", started=time.time() - 100, trainer=2**22 + 12345, owner=2**22 + 1)
    run.write_state(state)
    run.heartbeat.write_text("{}")
    os.utime(run.heartbeat, (time.time() - 100, time.time() - 100))
    events = follow(svc, job.id)
    assert events[-1].kind == "error" and "stopped answering" in data(events[-1])["detail"]


def test_a_diverging_run_ends_as_diverged_and_is_cached_as_such(service):
    svc = service()
    job = svc.submit(DIVERGING, "client-a")
    events = follow(svc, job.id)
    assert events[-1].kind == "diverged"
    detail = data(events[-1])
    assert detail["step"] >= 1 and "learning rate" in detail["detail"]
    assert svc.job(job.id).status == "diverged" and svc.job(job.id).model is None
    again = svc.submit(DIVERGING, "client-b")
    assert again.status == "diverged" and again.cached


def test_a_run_past_its_time_limit_ends_as_an_error(service):
    svc = service(training_max_seconds=0.5)
    job = svc.submit(LONG, "client-a")
    events = follow(svc, job.id)
    assert events[-1].kind == "error" and "passed its time limit of 0.5 s" in data(events[-1])["detail"]


def test_reading_from_an_event_id_on_and_after_the_end(service):
    svc = service()
    job = svc.submit(TINY, "client-a")
    events = follow(svc, job.id)
    later = svc.feed(job.id, after=1)
    assert later.poll() == events[1:] and later.finished
    assert svc.feed(job.id, after=events[-1].id).ended_before()
    assert not svc.feed(job.id, after=events[-2].id).ended_before()


def test_server_caps_and_bad_settings_are_refused(service):
    svc = service(training_max_epochs=3, training_max_examples=1000)
    for given, words in [
        ({**TINY, "epochs": 4}, "3 epochs at most"),
        ({**TINY, "train_size": 2000}, "1,000 digits at most"),
        ({"architecture": "logreg", "hidden": [5]}, "no hidden layer"),
        ({"train_size": 500}, "must be one of"),
    ]:
        with pytest.raises(DigitPadError) as caught:
            svc.submit(given, "client-a")
        assert caught.value.code == "invalid_request" and words in caught.value.detail


def test_unknown_jobs_and_models(service):
    svc = service()
    for job_id in ("0123456789abcdef", "../../etc/passwd", ""):
        with pytest.raises(UnknownJob):
            svc.job(job_id)
    with pytest.raises(UnknownTrainedModel, match="kept for 60 minutes"):
        svc.models.find("lab-0123456789abcdef")
    assert not svc.models.is_trained_name("lab-../x") and svc.models.is_trained_name("lab-0123456789abcdef")


def test_a_model_file_that_does_not_match_its_digest_is_not_loaded(service):
    svc = service()
    job = svc.submit(TINY, "client-a")
    follow(svc, job.id)
    run = svc.run_files(job.key)
    data_bytes = bytearray(run.model_path.read_bytes())
    data_bytes[-100] ^= 0xFF
    run.model_path.write_bytes(bytes(data_bytes))
    with pytest.raises(UnknownTrainedModel):
        svc.models.find(f"lab-{job.key}")


def test_trained_models_in_memory_are_capped_and_expire(service, monkeypatch):
    svc = service(training_models_in_memory=1, training_ttl=100)
    names = []
    for seed in (1, 2):
        job = svc.submit({**TINY, "seed": seed}, "client-a")
        follow(svc, job.id)
        names.append(f"lab-{job.key}")
    first = svc.models.find(names[0])
    assert svc.models.find(names[0]) is first  # from memory
    svc.models.find(names[1])
    assert not svc.models.in_memory(names[0]) and svc.models.in_memory(names[1])  # the cap evicted the older
    clock = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: clock + 101)
    svc.models.find(names[0])
    assert not svc.models.in_memory(names[1])  # not used for longer than the time to live


def test_old_runs_and_jobs_are_cleaned_up(service):
    svc = service(training_ttl=50, training_max_runs=1)
    keys, jobs = [], []
    for seed in (1, 2, 3):
        job = svc.submit({**TINY, "seed": seed}, "client-a")
        follow(svc, job.id)
        keys.append(job.key)
        jobs.append(job.id)
    old = time.time() - 100
    run = svc.run_files(keys[0])
    state = run.state() or {}
    state["finished"] = old
    run.write_state(state)
    for path in (run.used, run.state_path, svc.jobs / f"{jobs[0]}.json", run.clients / jobs[0]):
        if path.exists():
            os.utime(path, (old, old))
    svc._clean_up(time.time(), set())
    assert not run.folder.exists()  # past its time to live
    assert not svc.run_files(keys[1]).folder.exists() and svc.run_files(keys[2]).folder.exists()  # the cap
    with pytest.raises(UnknownJob):
        svc.job(jobs[0])


def test_an_unwritable_data_folder_turns_the_lab_off_with_a_reason(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    svc = TrainingService(make_settings(data_dir=blocked))
    assert svc.unavailable and "DIGITPAD_DATA_DIR" in svc.unavailable
    with pytest.raises(training.LabUnavailable) as caught:
        svc.submit(TINY, "client-a")
    assert caught.value.code == "not_ready"
    assert svc.tick() is False


def test_cache_keys_name_the_normalised_settings_and_the_code(monkeypatch):
    key = runs.cache_key(lab.LabSettings.make("mlp"))
    assert key == runs.cache_key(lab.LabSettings.make("mlp", hidden=[100], activation="sigmoid"))
    assert key != runs.cache_key(lab.LabSettings.make("mlp", momentum=0.5))
    monkeypatch.setattr(runs, "code_and_data_version", lambda: "other code")
    assert key != runs.cache_key(lab.LabSettings.make("mlp"))


def test_a_reader_that_learns_of_a_cancel_late_still_ends_with_it(tmp_path, monkeypatch):
    """A reader rereads its job (for a cancel) only now and then, so it may deliver a few of the run's
    events past the point the job was cancelled at before it knows: it still ends with `cancelled`."""
    run = runs.RunFiles(tmp_path / "run")
    run.folder.mkdir()
    job_path = tmp_path / "job.json"
    runs.write_json(job_path, {"key": run.key})
    clock = [100.0]
    monkeypatch.setattr(runs.time, "monotonic", lambda: clock[0])
    feed = runs.EventFeed(run, job_path, "job", after=0)
    for step in range(1, 4):
        run.append_event("progress", {"step": step})
    assert [e.id for e in feed.poll()] == [1, 2, 3]
    runs.write_json(job_path, {"key": run.key, "cancelled_after": 2})  # cancelled when the run had 2 events
    run.append_event("progress", {"step": 4})
    assert [e.id for e in feed.poll()] == [4] and not feed.finished  # the job is not read again yet
    clock[0] += runs.JOB_REREAD_S
    run.append_event("progress", {"step": 5})
    last = feed.poll()
    assert [e.kind for e in last] == ["cancelled"] and last[0].id == 5 and feed.finished
    assert "goes on" in data(last[0])["detail"]
    assert runs.EventFeed(run, job_path, "job", after=5).ended_before()


def test_a_reader_told_of_a_cancel_in_time_ends_at_its_point(tmp_path):
    run = runs.RunFiles(tmp_path / "run")
    run.folder.mkdir()
    job_path = tmp_path / "job.json"
    for step in range(1, 5):
        run.append_event("progress", {"step": step})
    runs.write_json(job_path, {"key": run.key, "cancelled_after": 2})
    events = runs.EventFeed(run, job_path, "job", after=0).poll()
    assert [(e.id, e.kind) for e in events] == [(1, "progress"), (2, "progress"), (3, "cancelled")]
