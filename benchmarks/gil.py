"""The GIL: a worker's inference in a thread beside its event loop, as the server runs it, or in a process.

One prediction is the inference thread's whole work for the page's upload (`tests/data/ink-7.png`, the
cnn, activations on: decode, preprocess, forward pass, JSON). An event loop keeps `--concurrency`
requests in flight; each request also costs the loop `--loop-us` of pure Python (its stand-in for the
framework's share, ~260 us more than `/healthz` in the server), half before the prediction and half
after. The prediction is handed off:

- thread: to one inference thread through `run_in_executor`, as `app/web/predictions.py` does; the two
  threads share the GIL;
- process: to one child process through a pipe (`multiprocessing` connection; the loop reads answers
  with `add_reader`), one request at a time, as the server's one inference turn a worker: no GIL
  shared, at the price of copying the body there and the answer back.

Prints CPU time per request (every thread of both processes) against the work alone, and the wall time
per request. On a server whose workers already keep every core busy, CPU per request decides
throughput; wall time is what one worker alone gains from a second core. Run from the repository root:

    python -m benchmarks.gil [--requests 1500] [--concurrency 16] [--loop-us 260] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from statistics import median

from app.core.process import keep_freed_memory, one_blas_thread

one_blas_thread()  # before NumPy is imported, in this process and the child alike, as in a worker

from benchmarks.common import ROOT, cpu_model, fmt_time, table  # noqa: E402

PAGE_PNG = ROOT / "tests" / "data" / "ink-7.png"
SWITCH_INTERVAL_S = 0.001  # as app/main.py sets it in each worker
STOP = b""


def setup() -> Callable[[bytes], bytes]:
    """The inference thread's work for one upload, with the server's process settings."""
    keep_freed_memory()
    from app.config import MODEL_DIR, Settings
    from app.nn.network import load_model
    from app.web.predictions import _answer_one

    model = load_model(MODEL_DIR / "cnn.npz")
    settings = Settings(model_dir=MODEL_DIR)
    return lambda body: _answer_one(model, body, 2, True, settings)


def child(conn: Connection) -> None:
    """A process that answers each body it receives, until STOP; then sends its CPU seconds."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    work = setup()
    conn.send_bytes(b"ready")
    while (body := conn.recv_bytes()) != STOP:
        conn.send_bytes(work(body))
    conn.send_bytes(repr(time.process_time()).encode())


def count(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


class Spin:
    """Pure Python work for a given time, calibrated on this machine: the event loop's share of a request."""

    def __init__(self) -> None:
        best = min(self._time(200_000) for _ in range(5))
        self.per_second = 200_000 / best

    @staticmethod
    def _time(n: int) -> float:
        start = time.thread_time()
        count(n)
        return time.thread_time() - start

    def __call__(self, seconds: float) -> None:
        count(int(seconds * self.per_second))


async def serve(
    requests: int, concurrency: int, loop_s: float, spin: Spin, predict: Callable[[bytes], Awaitable[bytes]]
) -> None:
    body = PAGE_PNG.read_bytes()
    left = iter(range(requests))

    async def client() -> None:
        for _ in left:
            spin(loop_s / 2)
            answer = await predict(body)
            assert answer.startswith(b"{"), answer[:80]
            spin(loop_s / 2)

    await asyncio.gather(*(client() for _ in range(concurrency)))


def in_thread(work: Callable[[bytes], bytes], spin: Spin, args: argparse.Namespace) -> tuple[float, float]:
    """(CPU seconds, wall seconds) for the requests, the prediction at an inference thread."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="inference")

    async def predict(body: bytes) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(executor, work, body)

    executor.submit(work, PAGE_PNG.read_bytes()).result()  # the thread started and warm
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(serve(args.requests, args.concurrency, args.loop_us / 1e6, spin, predict))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    executor.shutdown()
    return cpu, wall


def in_process(spin: Spin, args: argparse.Namespace) -> tuple[float, float]:
    """(CPU seconds of both processes, wall seconds) for the requests, the prediction in a child process."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=child, args=(theirs,), daemon=True)
    process.start()
    assert ours.recv_bytes() == b"ready"
    ours.send_bytes(PAGE_PNG.read_bytes())
    ours.recv_bytes()  # warm

    async def run() -> None:
        loop = asyncio.get_running_loop()
        waiting: deque[asyncio.Future[bytes]] = deque()
        turn = asyncio.Semaphore(1)  # one request at the child at a time, as one inference turn a worker
        loop.add_reader(ours.fileno(), lambda: waiting.popleft().set_result(ours.recv_bytes()))

        async def predict(body: bytes) -> bytes:
            async with turn:
                answer: asyncio.Future[bytes] = loop.create_future()
                waiting.append(answer)
                ours.send_bytes(body)
                return await answer

        try:
            await serve(args.requests, args.concurrency, args.loop_us / 1e6, spin, predict)
        finally:
            loop.remove_reader(ours.fileno())

    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(run())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    ours.send_bytes(STOP)
    child_cpu = float(ours.recv_bytes())
    process.join()
    return cpu + child_cpu, wall


def work_alone(work: Callable[[bytes], bytes], n: int) -> float:
    """CPU seconds per prediction with nothing beside it."""
    body = PAGE_PNG.read_bytes()
    start = time.process_time()
    for _ in range(n):
        work(body)
    return (time.process_time() - start) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500, help="requests per scenario and round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--loop-us", type=float, default=260.0, help="the event loop's pure-Python work a request")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each scenario once a round, alternating")
    args = parser.parse_args(argv)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    work = setup()
    spin = Spin()
    load_before = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    alone, thread, process = [], [], []
    for _ in range(args.rounds):
        alone.append(work_alone(work, 300))
        thread.append(in_thread(work, spin, args))
        process.append(in_process(spin, args))
    # The child's total includes its start-up (imports, the model) and warm-up: measured once alone.
    startup = in_process(spin, argparse.Namespace(**{**vars(args), "requests": 0}))[0]
    n = args.requests
    work_s = median(alone)
    rows = [["work alone (one thread, nothing beside it)", fmt_time(work_s), "–", "–", "–"]]
    for name, runs, extra in (("thread (the server today)", thread, 0.0), ("process", process, startup)):
        cpu = median((c - extra) / n for c, _ in runs)
        wall = median(w / n for _, w in runs)
        hand_off = cpu - work_s - args.loop_us / 1e6
        rows.append([name, fmt_time(cpu), fmt_time(hand_off), fmt_time(wall), f"{1 / wall:,.0f}"])
    load_after = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print("## The GIL: inference in a thread or in a process\n")
    print(
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores; load average {load_before} before, {load_after} after\n"
        f"- {n} requests a scenario and round, {args.rounds} rounds alternating, {args.concurrency} in flight; "
        f"the loop's own work {args.loop_us:g} us a request; switch interval {SWITCH_INTERVAL_S * 1000:g} ms; "
        f"the child's start-up ({fmt_time(startup)} of CPU) left out\n"
    )
    print(
        table(
            ["prediction", "CPU / request", "hand-off CPU / request", "wall / request", "requests / s"],
            rows,
        )
    )
    print(
        "\nhand-off: CPU a request beyond the work alone and the loop's own share: the GIL's hand-offs "
        "(thread) or the pipe, copies and wake-ups (process)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
