"""Writes tests/data/pen-strokes-held-out.npz: the pen strokes of the pendigits writers that the shipped models
never train on (`app.nn.train.PEN_VALIDATION_WRITERS`), for tests that need real handwriting of unseen writers.

    python -m tests.data.make_pen_strokes PATH/pendigits-orig.tra.gz
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.nn.data import load_pendigits, save_pen_digits
from app.nn.train import PEN_VALIDATION_WRITERS

OUT = Path(__file__).resolve().parent / "pen-strokes-held-out.npz"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    digits = [d for d in load_pendigits(Path(argv[0])) if d.writer in PEN_VALIDATION_WRITERS]
    save_pen_digits(digits, OUT)
    print(f"wrote {OUT}: {len(digits)} digits of writers {list(PEN_VALIDATION_WRITERS)}, {OUT.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
