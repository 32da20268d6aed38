"""HTTP: the prediction routes against /healthz on the same server, under a real load generator.

Starts `digitpad serve` on a loopback port (1 and 2 workers), checks each route answers once, then
runs Debian's `wrk` against it for a bounded time per scenario: /healthz, /api/predict with the
PNG the page posts for a drawn 7 (`tests/data/ink-7.png`, from `canvas.py`; with and without
activations) and with Chromium's PNG of the same canvas (`canvas-7.png`), and /api/predict/batch.
Prints req/s, p50, p99, errors and each route's throughput as a fraction of /healthz's in the same
server. Run from the repository root, with Debian's wrk
installed (`apt-get install wrk`):

    python -m benchmarks.http [--duration 10] [--workers 1 2] [--concurrency 16 64]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from app.nn.stimuli import index_paths_for
from benchmarks.common import ROOT, cpu_model, table
from tests import servers
from tests.factories import digit_png
from tests.servers import HOST

BATCH_IMAGES = 32
PAGE_PNG = ROOT / "tests" / "data" / "ink-7.png"  # what the page posts, written by canvas.py
CANVAS_PNG = ROOT / "tests" / "data" / "canvas-7.png"  # the same drawing as Chromium encodes the canvas


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    body: bytes | None = None
    content_type: str = ""


@dataclass
class Result:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us: float  # the server's CPU time (every process and thread) per request


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (uvicorn's worker processes)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def cpu_seconds(pid: int) -> float:
    """User and system time of a process tree so far, all threads included."""
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def routes() -> list[Route]:
    png, canvas = PAGE_PNG.read_bytes(), CANVAS_PNG.read_bytes()
    # A program's batch: the test factories' digits, dark ink on white, drawn with three pen widths.
    batch = [digit_png(d % 10, pen=0.06 + 0.01 * (d % 3)) for d in range(BATCH_IMAGES)]
    images = [base64.b64encode(image).decode("ascii") for image in batch]
    return [
        Route("GET /healthz", "/healthz"),
        Route("POST /api/predict (activations)", "/api/predict", png, "image/png"),
        Route("POST /api/predict?activations=false", "/api/predict?activations=false", png, "image/png"),
        Route("POST /api/predict (canvas RGBA PNG, activations)", "/api/predict", canvas, "image/png"),
        Route(
            f"POST /api/predict/batch ({BATCH_IMAGES} PNGs)",
            "/api/predict/batch",
            json.dumps({"images": images}).encode(),
            "application/json",
        ),
    ]


def start_server(workers: int, log: Path) -> servers.Server:
    shipped = ",".join(path.stem for path in index_paths_for(ROOT / "model"))  # the models, not their indexes
    try:
        return servers.start({"DIGITPAD_LOG_LEVEL": "warning", "DIGITPAD_MODELS": shipped}, workers, log)
    except servers.ServerDidNotStart as exc:
        raise SystemExit(str(exc)) from exc


def check(port: int, route: Route) -> int:
    """Send the request once; it must succeed. Returns the response's size in bytes."""
    request = urllib.request.Request(
        f"http://{HOST}:{port}{route.path}",
        data=route.body,
        headers={"Content-Type": route.content_type} if route.body else {},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    answer = json.loads(body)
    ok = (
        answer.get("status") == "ok"
        or "prediction" in answer
        or all("prediction" in r for r in answer.get("results", [{}]))
    )
    if not ok:
        raise SystemExit(f"{route.name} answered {body[:200]!r}")
    return len(body)


def lua_script(route: Route, folder: Path) -> Path:
    """A wrk script sending the route's request; the body is read from a file, as it is binary."""
    script = folder / f"{abs(hash(route.name))}.lua"
    lines = []
    if route.body is not None:
        body = folder / f"{abs(hash(route.name))}.body"
        body.write_bytes(route.body)
        lines = [
            'wrk.method = "POST"',
            f'local f = assert(io.open("{body}", "rb"))',
            "wrk.body = f:read('*a')",
            "f:close()",
            f'wrk.headers["Content-Type"] = "{route.content_type}"',
        ]
    script.write_text("\n".join(lines) + "\n")
    return script


def parse_duration(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def run_wrk(server: int, port: int, route: Route, connections: int, seconds: float, folder: Path) -> Result:
    command = [
        "wrk",
        "-t",
        "2",
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(lua_script(route, folder)),
        f"http://{HOST}:{port}{route.path}",
    ]
    cpu_before = cpu_seconds(server)
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    cpu = cpu_seconds(server) - cpu_before
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.MULTILINE))
    if "99" not in percentiles:
        raise SystemExit(f"wrk printed no latency distribution for {route.name}:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(
        float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        parse_duration(percentiles["50"]),
        parse_duration(percentiles["99"]),
        errors + (int(non_2xx.group(1)) if non_2xx else 0),
        requests,
        cpu / max(requests, 1) * 1e6,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of load per route and scenario")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs the duration is split into")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--routes", nargs="+", type=int, help="only these routes, by position (0 is /healthz)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    all_routes = routes()
    if args.routes:
        all_routes = [all_routes[0], *(all_routes[i] for i in args.routes if i > 0)]
    rows = []
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for workers in args.workers:
            server = start_server(workers, folder / f"server-{workers}.log")
            port = server.port
            try:
                for route in all_routes:
                    sizes[route.name] = check(port, route)
                for connections in args.concurrency:
                    # rounds alternate the routes, so a load that comes and goes on a shared machine
                    # falls on /healthz and the routes measured against it alike
                    runs: dict[str, list[Result]] = {route.name: [] for route in all_routes}
                    for _ in range(args.rounds):
                        for route in all_routes:
                            runs[route.name].append(
                                run_wrk(
                                    server.process.pid, port, route, connections, args.duration / args.rounds, folder
                                )
                            )
                    floor = median(r.requests_per_s for r in runs[all_routes[0].name])
                    for route in all_routes:
                        results = runs[route.name]
                        rate = median(r.requests_per_s for r in results)
                        p50, p99 = median(r.p50_ms for r in results), max(r.p99_ms for r in results)
                        images = BATCH_IMAGES if "batch" in route.path else 1
                        rows.append(
                            [
                                route.name,
                                workers,
                                connections,
                                f"{rate:,.0f}",
                                f"{rate * images:,.0f}",
                                f"{p50:.1f}",
                                f"{p99:.1f}",
                                f"{p99 / p50:.1f}",
                                sum(r.errors for r in results),
                                f"{rate / floor:.3f}",
                                f"{median(r.cpu_us for r in results):,.0f}",
                            ]
                        )
            finally:
                servers.stop(server)
    print("## HTTP: the prediction routes against /healthz, wrk on loopback\n")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores, shared by wrk (2 threads) and the server; "
        f"load average {load} at the end\n- `digitpad serve` (uvicorn, uvloop, httptools, one BLAS thread per "
        f"worker); {args.duration:g} s per route and scenario in {args.rounds} alternating rounds (median req/s "
        f"and p50, worst p99), wrk timeout 5 s\n- response sizes: "
        + ", ".join(f"{name} {size:,} B" for name, size in sizes.items())
        + "\n"
    )
    print(
        table(
            [
                "route",
                "workers",
                "connections",
                "req/s",
                "images/s",
                "p50 ms",
                "p99 ms",
                "p99/p50",
                "errors",
                "/ healthz",
                "server CPU us/req",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
