"""Soak: a long mixed load on a live server, counting server errors and watching the workers' memory.

Starts `digitpad serve --workers 2` on a loopback port and sends 20,000 requests at concurrency 64 from
httpx with asyncio: good drawings (raw PNG with activations, JSON base64, pixel grids), batches of 8 to
32 drawings, and bad inputs (damaged and bomb images, bad JSON, NaN pixels, unknown models, wrong content
types, oversized bodies). It reports p50/p99 latency, every answer that was a 5xx, a connection error or
another status than the one expected, and the resident memory of the worker processes (the sum of their
VmRSS) after the first 1,000 requests and after the run. Exits 1 unless there were no 5xx, no connection
errors, no unexpected statuses and the memory grew by at most 20 MB. Run from the repository root:

    python -m benchmarks.soak [--requests 20000] [--concurrency 64] [--workers 2] [--time-limit 900]

Loopback only; the run stops at --time-limit seconds whatever is left.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from benchmarks.common import cpu_model
from benchmarks.http import process_tree, start_server
from tests import servers
from tests.factories import digit_png

MB = 1_000_000
MEMORY_GROWTH_LIMIT = 20 * MB
WARMUP = 1_000


@dataclass(frozen=True)
class Request:
    kind: str
    method: str
    path: str
    expected: int
    content: bytes | None = None
    content_type: str | None = None
    params: dict[str, str] | None = None


def drawings() -> list[bytes]:
    """Each digit at two sizes and offsets: 280x280 PNGs, dark ink on white, as a program might post them."""
    return [digit_png(d, scale=s, offset=o) for d in range(10) for s, o in ((1.0, (0, 0)), (0.7, (0.1, -0.05)))]


def bad_inputs(png: bytes) -> list[Request]:
    from PIL import Image

    def encode(image: Image.Image, fmt: str) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        return buffer.getvalue()

    bomb = encode(Image.new("L", (4000, 4001)), "PNG")
    blank = encode(Image.new("RGB", (280, 280), "white"), "PNG")
    cases: list[tuple[int, bytes, str, dict[str, str] | None]] = [
        (422, png[: len(png) // 2], "image/png", None),
        (422, b"", "image/png", None),
        (413, bomb, "image/png", None),
        (422, blank, "image/png", None),
        (422, b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", None),
        (415, png, "text/plain", None),
        (404, png, "image/png", {"model": "nope"}),
        (422, png, "image/png", {"top_k": "-1"}),
        (422, b'{"pixels": [[NaN, 1]]}', "application/json", None),
        (422, b'{"pixels": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json", None),
        (422, b"[1, 2, 3]", "application/json", None),
        (422, json.dumps({"image": "data:text/html;base64,PGI+"}).encode(), "application/json", None),
        (422, json.dumps({"pixels": [[0, 255, 0], [255]]}).encode(), "application/json", None),
        (413, b"\0" * (2 * 1024 * 1024 + 1), "image/png", None),
    ]
    return [Request("bad", "POST", "/api/predict", status, body, kind, params) for status, body, kind, params in cases]


def request_mix(seed: int) -> Callable[[], Request]:
    """A function drawing the next request: 55 % raw PNG, 10 % JSON image, 5 % pixels, 10 % batch, 20 % bad."""
    pngs = drawings()
    rng = random.Random(seed)
    bad = bad_inputs(pngs[7])
    grey = [np.asarray(_grey_grid(png)).tolist() for png in pngs[:4]]

    def next_request() -> Request:
        roll = rng.random()
        png = rng.choice(pngs)
        if roll < 0.55:
            return Request("png", "POST", "/api/predict", 200, png, "image/png")
        if roll < 0.65:
            body = json.dumps({"image": "data:image/png;base64," + base64.b64encode(png).decode()}).encode()
            return Request("json", "POST", "/api/predict", 200, body, "application/json", {"activations": "false"})
        if roll < 0.70:
            body = json.dumps({"pixels": rng.choice(grey)}).encode()
            return Request("pixels", "POST", "/api/predict", 200, body, "application/json")
        if roll < 0.80:
            images = [base64.b64encode(rng.choice(pngs)).decode() for _ in range(rng.randint(8, 32))]
            if rng.random() < 0.3:
                images[0] = "not an image"  # one bad image never fails the batch
            body = json.dumps({"images": images, "model": rng.choice(["cnn", "mlp", "logreg"])}).encode()
            return Request("batch", "POST", "/api/predict/batch", 200, body, "application/json")
        return rng.choice(bad)

    return next_request


def _grey_grid(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return 255 - np.asarray(image.convert("L").resize((56, 56)), dtype=np.int64)  # ink bright on dark


def worker_rss(server_pid: int) -> int:
    """Bytes resident in the server's worker processes (the supervisor excluded)."""
    total = 0
    for pid in process_tree(server_pid)[1:]:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


@dataclass
class Tally:
    latencies: list[float]
    statuses: Counter[tuple[str, int]]
    server_errors: int = 0
    connection_errors: int = 0
    unexpected: int = 0
    sent: int = 0


async def run_load(
    base: str, count: int, concurrency: int, next_request: Callable[[], Request], tally: Tally, deadline: float
) -> None:
    # Idle connections are dropped well before the server's 5 s keep-alive timeout, as a client should: at
    # httpx's default of exactly 5 s a request can go out just as the server closes the connection under it.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def one_worker() -> None:
            while tally.sent < count and time.monotonic() < deadline:
                tally.sent += 1
                request = next_request()
                headers = {"Content-Type": request.content_type} if request.content_type else {}
                started = time.perf_counter()
                try:
                    response = await client.request(
                        request.method, request.path, content=request.content, headers=headers, params=request.params
                    )
                    await response.aread()
                except httpx.TransportError as exc:
                    tally.connection_errors += 1
                    if tally.connection_errors <= 5:
                        print(
                            f"connection error on {request.kind} {request.path} "
                            f"({len(request.content or b'')} bytes): {exc!r}"
                        )
                    continue
                tally.latencies.append(time.perf_counter() - started)
                tally.statuses[(request.kind, response.status_code)] += 1
                if response.status_code >= 500:
                    tally.server_errors += 1
                elif response.status_code != request.expected:
                    tally.unexpected += 1
                    if tally.unexpected <= 5:
                        print(
                            f"unexpected {response.status_code} for {request.kind} (expected "
                            f"{request.expected}): {response.text[:200]}"
                        )

        await asyncio.gather(*(one_worker() for _ in range(concurrency)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=900, help="seconds; the run stops there")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    next_request = request_mix(args.seed)
    tally = Tally([], Counter())
    deadline = time.monotonic() + args.time_limit
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "server.log"
        server = start_server(args.workers, log)
        base = server.url
        try:
            started = time.monotonic()
            asyncio.run(run_load(base, min(WARMUP, args.requests), args.concurrency, next_request, tally, deadline))
            rss_warm = worker_rss(server.process.pid)
            asyncio.run(run_load(base, args.requests, args.concurrency, next_request, tally, deadline))
            rss_end = worker_rss(server.process.pid)
            wall = time.monotonic() - started
        finally:
            servers.stop(server)
        server_log = log.read_text(errors="replace")

    done = len(tally.latencies) + tally.connection_errors
    latencies = np.array(tally.latencies) * 1000
    growth = rss_end - rss_warm
    print(f"- {cpu_model()}; server: {args.workers} workers; client: httpx asyncio, {args.concurrency} connections")
    print(
        f"- requests: {done} in {wall:.1f} s ({done / wall:.0f}/s); "
        f"by kind and status: {dict(sorted(tally.statuses.items()))}"
    )
    print(
        f"- 5xx: {tally.server_errors}; connection errors: {tally.connection_errors}; "
        f"unexpected statuses: {tally.unexpected}"
    )
    print(
        f"- latency: p50 {np.percentile(latencies, 50):.1f} ms, p99 {np.percentile(latencies, 99):.1f} ms, "
        f"max {latencies.max():.1f} ms"
    )
    print(
        f"- worker RSS: {rss_warm / MB:.1f} MB after {min(WARMUP, args.requests)} requests, "
        f"{rss_end / MB:.1f} MB after {done} ({growth / MB:+.1f} MB)"
    )
    crashes = [
        line for line in server_log.splitlines() if "Unexpected error" in line or "Traceback" in line or "died" in line
    ]
    print(
        f"- server log: {len(crashes)} unexpected errors or worker deaths; "
        f"{len(server_log.splitlines())} lines in all, the first few:"
    )
    for line in server_log.splitlines()[:8]:
        print(f"    {line[:200]}")
    ok = (
        done == args.requests
        and tally.server_errors == 0
        and tally.connection_errors == 0
        and tally.unexpected == 0
        and growth <= MEMORY_GROWTH_LIMIT
        and not crashes
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
