"""Corrections: how long saving one takes on SQLite and on PostgreSQL, p50 and p99.

Two measurements for each database, in one run:
- `store`: `app.core.corrections.save` in this process, one after another: the transaction a request
  waits for (the rate-limit count and the insert, committed to disk).
- `POST`: POST /api/corrections with the network's input as JSON bits (what the page sends) to a live
  `digitpad serve`, from 1 client and from 8 at once, with POST /api/predict (no activations) on the same
  input and server as the reference, run in alternating blocks.

SQLite is a file in a temporary data folder, as the app makes it (WAL, synchronous=FULL). PostgreSQL is a
throwaway cluster with its durable defaults (fsync and synchronous commits on) made by tests/postgres.py,
or the server in DIGITPAD_TEST_POSTGRES_URL. Nothing is asserted; run from the repository root:

    python -m benchmarks.corrections [--saves 400] [--requests 400]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import numpy as np

from app.core import corrections
from app.core.corrections import NewCorrection, Quota
from app.core.storage.database import create_database_engine, upgrade
from app.web.schemas import SEVEN_BITS
from benchmarks.common import cpu_model, table
from tests import postgres, servers
from tests.postgres import PostgresUnavailable

BLOCK = 20  # requests of one kind before switching to the other
UNLIMITED = {"DIGITPAD_CORRECTIONS_RATE_LIMIT": "1000000000", "DIGITPAD_LOG_LEVEL": "warning"}


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def percentiles(seconds: list[float]) -> tuple[str, str]:
    p50, p99 = np.percentile(np.array(seconds) * 1000, [50, 99])
    return f"{p50:.2f} ms", f"{p99:.2f} ms"


def store_latency(url: str, saves: int) -> list[float]:
    from sqlalchemy import make_url

    engine = create_database_engine(make_url(url), timeout=30)
    upgrade(engine)
    bits = (np.frombuffer(SEVEN_BITS.encode(), np.uint8) - ord("0")).reshape(28, 28)
    quota = Quota("203.0.113.9", limit=10**9, window=60)
    times = []
    for i in range(saves + 10):
        start = time.perf_counter()
        corrections.save(engine, NewCorrection(bits, i % 10, "cnn", 1), quota)
        if i >= 10:  # the first ones warm the connection pool and the statement cache
            times.append(time.perf_counter() - start)
    engine.dispose()
    return times


def http_latency(env: dict[str, str], requests: int, clients: int) -> dict[str, list[float]]:
    """Per-request seconds of POST /api/corrections and of POST /api/predict, `clients` at a time."""
    server = servers.start({**UNLIMITED, **env})
    routes: dict[str, Callable[[httpx.Client], httpx.Response]] = {
        "POST /api/corrections": lambda c: c.post("/api/corrections", json={"bits": SEVEN_BITS, "label": 7}),
        "POST /api/predict": lambda c: c.post("/api/predict?activations=false", json={"bits": SEVEN_BITS}),
    }
    times: dict[str, list[float]] = {name: [] for name in routes}
    try:
        with httpx.Client(base_url=server.url, timeout=60, limits=httpx.Limits(max_connections=clients)) as client:

            def timed(call: Callable[[httpx.Client], httpx.Response]) -> float:
                start = time.perf_counter()
                response = call(client)
                elapsed = time.perf_counter() - start
                if response.status_code >= 300:
                    raise RuntimeError(f"{response.status_code}: {response.text}")
                return elapsed

            with ThreadPoolExecutor(clients) as pool:
                for call in routes.values():  # warm-up
                    list(pool.map(lambda _, call=call: timed(call), range(clients * 2)))
                while len(times["POST /api/corrections"]) < requests:
                    for name, call in routes.items():
                        times[name] += pool.map(lambda _, call=call: timed(call), range(BLOCK * clients))
    finally:
        servers.stop(server)
    return times


@contextmanager
def databases() -> Iterator[list[tuple[str, str, dict[str, str]]]]:
    """(name, URL, server environment) for SQLite and, when there is one, PostgreSQL."""
    with tempfile.TemporaryDirectory(prefix="digitpad-bench-") as folder:
        found = [("SQLite", f"sqlite:///{folder}/store.db", {"DIGITPAD_DATA_DIR": f"{folder}/data"})]
        try:
            server = postgres.start(durable=True)
        except PostgresUnavailable as exc:
            print(f"PostgreSQL left out: {exc}")
            yield found
            return
        try:
            store_url, serve_url = server.create_database(), server.create_database()
            found.append(("PostgreSQL", store_url, {"DIGITPAD_DATABASE_URL": serve_url}))
            yield found
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=400, help="saves timed in process, per database")
    parser.add_argument("--requests", type=int, default=400, help="corrections posted per database and client count")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    print(f"- CPU: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}")
    print(f"- load average before: {load()}")
    rows = []
    with databases() as found:
        for name, url, env in found:
            p50, p99 = percentiles(store_latency(url, args.saves))
            rows.append([name, "store (in process)", 1, p50, p99, "", ""])
            for clients in args.clients:
                times = http_latency(env, args.requests, clients)
                p50, p99 = percentiles(times["POST /api/corrections"])
                ref50, ref99 = percentiles(times["POST /api/predict"])
                rows.append([name, "POST /api/corrections", clients, p50, p99, ref50, ref99])
    print(f"- load average after: {load()}\n")
    headers = ["database", "what", "clients", "p50", "p99", "predict p50", "predict p99"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
