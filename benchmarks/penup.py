"""The page in Chromium: how long after pen-up the guess for a finished drawing appears, on a still page.

Starts `digitpad serve` and headless Chromium (Debian's), and draws pen-stroke digits of writers the
models never train on with the mouse (desktop) and with a finger (a phone-sized touch screen): half in a
few quick moves a stroke, half point by point at the pace of `--point-ms`. After each digit's last pen-up
the page is left alone until its results say `done` (waiting polls on a timer, never with
requestAnimationFrame, which would keep the page rendering and hide work the browser leaves for idle
time). The page itself records the times, so the figures do not include the driver's round trips. Nor
its work: the driver starts looking only `--look-after-ms` after the pen-up, since its own processes
(Playwright's Python and Node.js) waking to poll at that moment take the cores the browser and server
share, which a user's browser does not have to; `--look-after-ms 0` looks at once, as it did before.

- pen-up -> done: from the last `pointerup` to the results' `data-state` turning `done` for that drawing;
- the same split at the request: pen-up -> the page sends the drawing (capture and encoding), sent -> its
  answer (network and server), answer -> done (reading and showing it); how many final drawings went
  over the live socket (`app.web.live`) rather than by fetch, and how many needed no request after
  pen-up at all (the pen rested before it lifted, so the newest live guess was of the finished drawing);
- live guesses: predictions the page asks for while a pen is down, per second of pen-down time, and the
  shortest gap between two of them (the throttle's interval is 200 ms);
- the upload's size, how many digits were read as drawn, and layout shifts while guessing;
- where a final request by fetch goes: the browser's Resource Timing of it (fetch -> the request on the
  wire, -> the response's head, -> its last byte) against the server's own Server-Timing spans (`app`:
  from the request reaching the app to its answer's head; `work` at the inference thread, `turn` waiting
  for it, `handoff` to it and back), and how often another API request (a live guess still in flight, an
  explanation) was in flight when it was made.

Strokes come from `tests/data/pen-strokes-held-out.npz` (the six held-out pendigits writers), or from the
original UNIPEN file given with `--pendigits` (its held-out writers only). Needs the test extra
(Playwright) and Chromium. Run from the repository root:

    python -m benchmarks.penup [--digits 40] [--viewports desktop phone] [--pendigits PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from app.nn.data import PenDigit, load_pen_digits, load_pendigits
from app.nn.train import PEN_VALIDATION_WRITERS
from benchmarks.common import cpu_model, percentile, table
from benchmarks.http import start_server
from tests import servers
from tests.factories import TEST_DATA_DIR

HELD_OUT = TEST_DATA_DIR / "pen-strokes-held-out.npz"
QUICK_POINTS = 8  # points a stroke keeps when drawn in a few quick moves
FILL = 0.7  # the digit's longer side, as a fraction of the pad's
POLL_MS = 20  # how often the driver looks at the page while it waits (a timer, not an animation frame)
TIMEOUT_MS = 15_000
RESULTS = '[data-testid="results"]'
STATE_IS = f"(state) => document.querySelector('{RESULTS}').dataset.state === state"
# True once the browser has timed the first prediction request made after the last pen-up.
TIMED_AFTER_LAST_UP = """() => {
  const log = window.guesses, up = log.ups.at(-1), final = log.requests.find((r) => r.sent > up);
  if (!final || final.socket) return true;
  return log.timings.some((e) => e.start >= final.sent - 0.5 && e.start <= (final.answered ?? Infinity));
}"""
TIMING_WAIT_MS = 1_000


@dataclass
class Drawing:
    viewport: str
    style: str  # "quick" or "points"
    label: int
    read: str
    latency_ms: float
    encode_ms: float | None  # pen-up -> sent
    server_ms: float | None  # sent -> answer
    show_ms: float | None  # answer -> done
    pen_down_ms: float
    live_guesses: int
    live_gaps_ms: list[float] = field(default_factory=list)
    upload_bytes: int | None = None
    shift: float = 0.0
    by_socket: bool = False  # the final drawing went over the live socket
    asked_before_up: bool = False  # no request after pen-up: the newest live guess was of this drawing
    timing: dict[str, float] = field(default_factory=dict)  # the final request's by fetch, see request_timing
    competing: list[str] = field(default_factory=list)  # other API requests in flight when it was made


def request_timing(request: dict[str, Any], timings: list[dict[str, Any]]) -> dict[str, float]:
    """The final request's time, split: the browser's Resource Timing entry made at its fetch call and
    the server's Server-Timing spans in it. Empty when the browser recorded none, as for a drawing sent
    on the live socket."""
    # The browser starts timing a fetch a moment after the call, and before its answer.
    answered = request["answered"] or float("inf")
    made = [e for e in timings if request["sent"] - 0.5 <= e["start"] <= answered]
    entry = min(made, key=lambda e: e["start"], default=None)
    if entry is None or not entry["responseStart"]:
        return {}
    split = {
        "to wire": entry["requestStart"] - entry["start"],
        "to head": entry["responseStart"] - entry["requestStart"],
        "to last byte": entry["responseEnd"] - entry["responseStart"],
    }
    if request["answered"]:
        split["head to fetch"] = request["answered"] - entry["responseStart"]
    server = entry["server"]
    if "app" in server:
        split["app"] = server["app"]
        split["outside app"] = split["to head"] - server["app"]
    return split | {name: server[name] for name in ("turn", "work", "handoff") if name in server}


def in_flight(log: dict[str, Any], at: float) -> list[str]:
    """What else the page had asked of the API and not yet had answered at the time `at`."""

    def busy(sent: float, ended: float | None) -> bool:
        return sent < at and (ended is None or ended > at)

    others = [o["url"].split("?")[0] for o in log["others"] if busy(o["sent"], o["ended"])]
    live = ["/api/predict" for r in log["requests"] if r["sent"] < at and busy(r["sent"], r["answered"])]
    return others + live


def held_out_digits(pendigits: Path | None) -> list[PenDigit]:
    if pendigits is None:
        return load_pen_digits(HELD_OUT)
    return [d for d in load_pendigits(pendigits) if d.writer in PEN_VALIDATION_WRITERS]


def pick(digits: list[PenDigit], n: int, seed: int) -> list[PenDigit]:
    """n digits, as many of each label as can be, in a shuffled order."""
    rng = np.random.default_rng(seed)
    by_label = {label: [d for d in digits if d.label == label] for label in range(10)}
    chosen = [by_label[i % 10][int(rng.integers(len(by_label[i % 10])))] for i in range(n)]
    return [chosen[i] for i in rng.permutation(n)]


def on_pad(digit: PenDigit, box: dict[str, float]) -> list[list[tuple[float, float]]]:
    """The digit's strokes in page coordinates, its longer side FILL of the pad's, centred."""
    points = np.concatenate(digit.strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = FILL * box["width"] / max(float((high - low).max()), 1.0)
    middle = (low + high) / 2
    centre = np.array([box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    return [[(float(x), float(y)) for x, y in (stroke - middle) * scale + centre] for stroke in digit.strokes]


def quick(stroke: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(stroke) <= QUICK_POINTS:
        return stroke
    keep = np.linspace(0, len(stroke) - 1, QUICK_POINTS).round().astype(int)
    return [stroke[i] for i in keep]


@dataclass(frozen=True)
class Pace:
    point_s: float  # between moves when drawing point by point
    still_s: float  # stillness before clearing the pad, and again before drawing
    look_s: float  # after the last pen-up, before the driver looks at the page


def draw_with_mouse(page: Any, strokes: list[list[tuple[float, float]]], pause_s: float) -> None:
    for stroke in strokes:
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for point in stroke[1:]:
            if pause_s:
                time.sleep(pause_s)
            page.mouse.move(*point)
        page.mouse.up()


def draw_with_finger(cdp: Any, strokes: list[list[tuple[float, float]]], pause_s: float) -> None:
    """Touches through a DevTools session of the page, one for all its drawings: opened or closed at a
    pen-up, it would be driver work at the moment measured."""
    for stroke in strokes:
        for i, (x, y) in enumerate(stroke):
            if i and pause_s:
                time.sleep(pause_s)
            kind = "touchMove" if i else "touchStart"
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def measure(page: Any, touch: Any, viewport: str, digit: PenDigit, style: str, pace: Pace) -> Drawing:
    """One digit drawn and its pen-up timed; `touch` is the page's DevTools session on the phone, else None."""
    from tests.browser.drawing import SETTLED_AFTER_LAST_UP, forget_guesses

    # As a user would: look at the last guess a while, clear the pad, and pause before drawing.
    time.sleep(pace.still_s)
    # Clicked on both viewports: a tap through DevTools now and then reaches the button as a pointer
    # down and up without a click, and the clearing is not what is measured.
    page.get_by_test_id("clear").click()
    page.wait_for_function(STATE_IS, arg="empty", polling=POLL_MS, timeout=TIMEOUT_MS)
    time.sleep(pace.still_s)
    forget_guesses(page)
    box = page.get_by_test_id("pad").bounding_box()
    strokes = on_pad(digit, box)
    if style == "quick":
        strokes = [quick(stroke) for stroke in strokes]
    pause_s = pace.point_s if style == "points" else 0.0
    if touch is None:
        draw_with_mouse(page, strokes, pause_s)
    else:
        draw_with_finger(touch, strokes, pause_s)
    time.sleep(pace.look_s)
    try:
        page.wait_for_function(SETTLED_AFTER_LAST_UP, polling=POLL_MS, timeout=TIMEOUT_MS)
    except Exception as exc:
        state = page.evaluate(f"[window.guesses, document.querySelector('{RESULTS}').innerText]")
        raise SystemExit(f"no answer {TIMEOUT_MS} ms after pen-up: {state}") from exc
    # The Resource Timing entry of the final request comes once its body is read, maybe after `done`.
    # A request the browser left untimed goes without its split.
    with contextlib.suppress(Exception):
        page.wait_for_function(TIMED_AFTER_LAST_UP, polling=POLL_MS, timeout=TIMING_WAIT_MS)
    log = page.evaluate("window.guesses")
    read = page.get_by_test_id("first-guess").text_content() or ""
    up = log["ups"][-1]
    done = next(t for t, state in log["states"] if t > up and state in ("done", "empty"))
    final = next((r for r in log["requests"] if r["sent"] > up), None)
    # A pen is down from each pointerdown to the next pointerup.
    spans = list(zip(log["downs"], log["ups"], strict=False))
    live = sorted(r["sent"] for r in log["requests"] if any(a <= r["sent"] < b for a, b in spans))
    return Drawing(
        viewport,
        style,
        digit.label,
        read,
        done - up,
        final["sent"] - up if final else None,
        final["answered"] - final["sent"] if final and final["answered"] else None,
        done - final["answered"] if final and final["answered"] else None,
        sum(b - a for a, b in spans),
        len(live),
        [b - a for a, b in itertools.pairwise(live)],
        final["size"] if final else None,
        float(sum(log["shifts"])),
        bool(final and final.get("socket")),
        final is None,
        request_timing(final, log["timings"]) if final else {},
        in_flight(log, final["sent"]) if final else [],
    )


def run(url: str, viewports: list[str], digits: list[PenDigit], pace: Pace) -> tuple[list[Drawing], str]:
    """Every digit drawn on each viewport's page; the drawings and Chromium's version."""
    # Playwright and the browser tests' helpers come with the test extra, not the product.
    from playwright.sync_api import sync_playwright

    from tests.browser.drawing import RECORD_GUESSES
    from tests.browser.pages import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE

    drawings = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for viewport in viewports:
                context = browser.new_context(**(DESKTOP if viewport == "desktop" else PHONE))
                page = context.new_page()
                page.add_init_script(RECORD_GUESSES)
                page.goto(url + "/")
                page.wait_for_selector('[data-testid="layer-input"]')
                page.get_by_test_id("pad").scroll_into_view_if_needed()
                touch = None if viewport == "desktop" else context.new_cdp_session(page)
                for i, digit in enumerate(digits):
                    style = "quick" if i % 2 == 0 else "points"
                    drawings.append(measure(page, touch, viewport, digit, style, pace))
                    last = drawings[-1]
                    print(
                        f"{viewport} {i + 1}/{len(digits)} {style}: {last.label} read {last.read or '?'}, "
                        f"{last.latency_ms:.1f} ms",
                        file=sys.stderr,
                    )
                context.close()
            version = browser.version
        finally:
            browser.close()
    return drawings, version


def ms(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.1f}"


def summary_rows(drawings: list[Drawing]) -> list[list[object]]:
    rows = []
    groups = sorted({(d.viewport, d.style) for d in drawings}, key=lambda g: (g[0] != "desktop", g[1]))
    for viewport in dict.fromkeys(v for v, _ in groups):
        for style in ("quick", "points", "all"):
            part = [d for d in drawings if d.viewport == viewport and (style == "all" or d.style == style)]
            if not part:
                continue
            latency = [d.latency_ms for d in part]
            pen_down_s = sum(d.pen_down_ms for d in part) / 1000
            live = sum(d.live_guesses for d in part)
            gaps = [g for d in part for g in d.live_gaps_ms]
            sizes = [d.upload_bytes for d in part if d.upload_bytes]

            def med(values: list[float | None]) -> float | None:
                present = [v for v in values if v is not None]
                return median(present) if present else None

            rows.append(
                [
                    f"{viewport}, {style}",
                    len(part),
                    ms(median(latency)),
                    ms(percentile(latency, 95)),
                    ms(max(latency)),
                    ms(med([d.encode_ms for d in part])),
                    ms(med([d.server_ms for d in part])),
                    ms(med([d.show_ms for d in part])),
                    f"{sum(d.by_socket for d in part)}/{len(part)}",
                    f"{sum(d.asked_before_up for d in part)}/{len(part)}",
                    f"{live / pen_down_s:.2f}" if pen_down_s else "–",
                    ms(min(gaps)) if gaps else "–",
                    f"{median(sizes):,.0f} / {max(sizes):,}" if sizes else "–",
                    f"{sum(d.read == str(d.label) for d in part)}/{len(part)}",
                    f"{max(d.shift for d in part):.3f}",
                ]
            )
    return rows


SPLIT = ["to wire", "to head", "app", "turn", "work", "handoff", "outside app", "to last byte", "head to fetch"]


def split_rows(drawings: list[Drawing]) -> list[list[object]]:
    """Medians of the final request's split per viewport, and how many were made with others in flight."""
    rows = []
    for viewport in dict.fromkeys(d.viewport for d in drawings):
        part = [d for d in drawings if d.viewport == viewport]
        cells: list[object] = [viewport, sum(bool(d.timing) for d in part)]
        for name in SPLIT:
            values = [d.timing[name] for d in part if name in d.timing]
            cells.append(ms(median(values)) if values else "–")
        competing = [d for d in part if d.competing]
        kinds = sorted({url.rsplit("/", 1)[-1] for d in competing for url in d.competing})
        cells.append(f"{len(competing)}/{len(part)}" + (f" ({', '.join(kinds)})" if kinds else ""))
        rows.append(cells)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, default=40, help="digits drawn per viewport (half quick, half by points)")
    parser.add_argument("--viewports", nargs="+", choices=["desktop", "phone"], default=["desktop", "phone"])
    parser.add_argument("--pendigits", type=Path, help="UCI pendigits-orig.tra(.gz); default: the committed strokes")
    parser.add_argument("--point-ms", type=float, default=20.0, help="pause between moves when drawing point by point")
    parser.add_argument(
        "--still-ms", type=float, default=500.0, help="stillness before clearing the pad and again before drawing"
    )
    parser.add_argument(
        "--look-after-ms", type=float, default=300.0, help="after a pen-up, before the driver polls the page"
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    digits = pick(held_out_digits(args.pendigits), args.digits, args.seed)
    load_before = os.getloadavg()
    print("## The page: pen-up to guess, Chromium, a still page\n")
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(args.workers, Path(folder) / "server.log")
        try:
            pace = Pace(args.point_ms / 1000, args.still_ms / 1000, args.look_after_ms / 1000)
            drawings, chromium = run(server.url, args.viewports, digits, pace)
        finally:
            servers.stop(server)
    load = ", ".join(f"{v:.2f}" for v in load_before)
    after = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    source = "committed strokes" if args.pendigits is None else str(args.pendigits)
    print(
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores; load average {load} before, {after} after\n"
        f"- Chromium {chromium}, headless; Python {platform.python_version()}; `digitpad serve`, "
        f"{args.workers} worker(s), on the same cores\n"
        f"- {args.digits} held-out pen digits per viewport ({source}), seed {args.seed}; desktop 1280x900 "
        "with the mouse, phone 390x844 at 3x with a finger; quick: "
        f"{QUICK_POINTS} points a stroke, no pauses; points: every point, {args.point_ms:g} ms apart; the "
        f"page still for {args.still_ms:g} ms before clearing the pad and again before drawing; the driver "
        f"looks {args.look_after_ms:g} ms after the last pen-up, then polls every {POLL_MS} ms\n"
        "- live guesses: predictions asked for while a pen is down, per second of pen-down time, and the "
        "shortest gap between two; upload: the last request's body, median / max bytes\n"
    )
    print(
        table(
            [
                "drawings",
                "n",
                "pen-up -> done median ms",
                "p95 ms",
                "max ms",
                "-> sent ms",
                "sent -> answer ms",
                "-> done ms",
                "by socket",
                "asked before up",
                "live guesses / s",
                "min gap ms",
                "upload B",
                "read as drawn",
                "layout shift",
            ],
            summary_rows(drawings),
        )
    )
    print(
        "\nWhere a final request by fetch goes (none when the live socket took them all), medians in ms: "
        "the browser's Resource Timing (fetch -> the "
        "request on the wire -> the response's head -> its last byte; the head -> fetch resolving in the page) "
        "and the server's Server-Timing (app, and in it turn, work, handoff; outside app: the head's time the "
        "app does not see, the sockets and the HTTP server):\n"
    )
    print(table(["viewport", "timed", *(f"{name} ms" for name in SPLIT), "others in flight"], split_rows(drawings)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
