"""Pen strokes as the drawing pad draws them: the pad's geometry and rendering a digit's strokes.

The pad keeps strokes as points and paints them with a round pen; rendering them here the same way lets
training, tests and benchmarks see the drawings the page sends.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageDraw

PAD_SIZE = 280  # the side of the image the pad sends, in pixels
PEN_WIDTH = 0.075  # the pad's round pen, as a fraction of the pad's side (of its height when it is wide)
# The wide pad of Number mode: the image it sends, in pixels, three times as wide as it is tall.
NUMBER_PAD_WIDTH, NUMBER_PAD_HEIGHT = 480, 160


def render_strokes(
    strokes: Iterable[np.ndarray],
    size: int = PAD_SIZE,
    pen_width: float = PEN_WIDTH,
    source_size: float = 500.0,
    width: int | None = None,
) -> np.ndarray:
    """Draw strokes as the pad does: a round pen of pen_width * size, light ink on a dark (H, W) uint8.

    The image is `size` pixels tall and `width` wide (default: square); points are scaled by
    size / source_size, so a wide pad keeps the pen of a square pad as tall.
    """
    image = Image.new("L", (width or size, size), 0)
    draw = ImageDraw.Draw(image)
    scale = size / source_size
    width = max(1, round(pen_width * size))
    radius = width / 2
    for stroke in strokes:
        xy = [(float(x) * scale, float(y) * scale) for x, y in stroke]
        if len(xy) > 1:
            draw.line(xy, fill=255, width=width, joint="curve")
        for x, y in (xy[0], xy[-1]):  # round caps
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(image)
