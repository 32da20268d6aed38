"""A drawing's round trip from a still page in Chromium: by `fetch` (POST /api/predict) against the live
socket (/api/predict/live), the same bytes and the same answer.

Starts `digitpad serve` (1 worker) and Debian's headless Chromium, opens a page of the server and, in
the page, sends the page's own upload of a drawn 7 (`tests/data/ink-7.png`, the PNG `inkPng` makes) one
request at a time, a pause between two so that the page is still when each starts, alternating blocks of
fetches and socket messages: from the call to the parsed JSON answer, in the page's clock. With
activations (the page's request, a 21.7 KB answer) and without (1 KB). Run from the repository root:

    python -m benchmarks.transport [--requests 200] [--pause-ms 50]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path
from statistics import median

from benchmarks.common import cpu_model, percentile, table
from benchmarks.http import start_server
from tests import servers
from tests.factories import TEST_DATA_DIR

BLOCKS = 4  # alternating blocks per contender: a load that comes and goes slows both alike
WARM_UP = 10  # round trips of each kind not counted: the first socket messages and fetches are slower

ROUND_TRIPS = """async ({ bytes, requests, pauseMs, blocks, warmUp, query }) => {
  const body = new Uint8Array(bytes);
  const url = `/api/predict?${query}`;
  const socket = new WebSocket(`ws://${location.host}/api/predict/live?${query}`);
  await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
  const pause = () => new Promise((resolve) => setTimeout(resolve, pauseMs));
  const kinds = {
    async fetch() {
      const response = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'image/png' } });
      return response.json();
    },
    socket() {
      return new Promise((resolve) => {
        socket.onmessage = (event) => resolve(JSON.parse(event.data));
        socket.send(body);
      });
    },
  };
  const times = { fetch: [], socket: [] };
  for (const [kind, send] of Object.entries(kinds)) {
    for (let i = 0; i < warmUp; i++) { await send(); await pause(); }
  }
  for (let block = 0; block < blocks; block++) {
    for (const [kind, send] of Object.entries(kinds)) {
      for (let i = 0; i < requests / blocks; i++) {
        const start = performance.now();
        const answer = await send();
        times[kind].push(performance.now() - start);
        if (answer.prediction !== 7) throw new Error(`answered ${JSON.stringify(answer).slice(0, 200)}`);
        await pause();
      }
    }
  }
  socket.close();
  return times;
}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="round trips of each kind, per variant")
    parser.add_argument("--pause-ms", type=float, default=50.0, help="stillness before each round trip")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from tests.browser.pages import CHROMIUM, CHROMIUM_ARGS

    image = list((TEST_DATA_DIR / "ink-7.png").read_bytes())
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(1, Path(folder) / "server.log")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page()
                page.goto(server.url + "/healthz")
                for variant, query in [
                    ("with activations", "activations=true"),
                    ("no activations", "activations=false"),
                ]:
                    times = page.evaluate(
                        ROUND_TRIPS,
                        {
                            "bytes": image,
                            "requests": args.requests,
                            "pauseMs": args.pause_ms,
                            "blocks": BLOCKS,
                            "warmUp": WARM_UP,
                            "query": query,
                        },
                    )
                    by_fetch, by_socket = median(times["fetch"]), median(times["socket"])
                    rows.append(
                        [
                            variant,
                            len(times["fetch"]),
                            f"{by_fetch:.1f} / {percentile(times['fetch'], 95):.1f}",
                            f"{by_socket:.1f} / {percentile(times['socket'], 95):.1f}",
                            f"{by_socket / by_fetch:.2f}",
                        ]
                    )
                version = browser.version
                browser.close()
        finally:
            servers.stop(server)
    load = ", ".join(f"{v:.2f}" for v in load_before)
    after = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print("## A drawing's round trip from a still page: fetch against the live socket\n")
    print(
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores; load average {load} before, {after} after\n"
        f"- Chromium {version}, headless; Python {platform.python_version()}; `digitpad serve`, 1 worker, on "
        f"the same cores\n- the page's upload of a drawn 7 (`tests/data/ink-7.png`), one request at a time, "
        f"{args.pause_ms:g} ms still before each; {BLOCKS} alternating blocks, {WARM_UP} of each kind first "
        "uncounted; from the call to the parsed answer\n"
    )
    print(table(["answer", "n", "fetch median / p95 ms", "socket median / p95 ms", "socket / fetch"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
