"""Any drawing -> the 28x28 binary input the networks read, the way MNIST was made.

This is the one place that knows the recipe: find the ink against the background, crop to it, scale
the longer side to 20 px (anti-aliased, keeping the aspect ratio), paste into 28x28 so the centre of
mass sits in the middle, and threshold. Training, evaluation and serving all call `preprocess`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

SIZE = 28  # the network's input is SIZE x SIZE
BOX = 20  # the ink's longer side is scaled to BOX pixels, as in MNIST
THRESHOLD = 0.5  # a pixel is on when its ink is at least half the strongest ink in the drawing
MIN_CONTRAST = 0.2  # ink must differ from the background by a fifth of the full scale (51 of 255)
# A canvas whose alpha falls below this somewhere is transparent, and its alpha is the ink.
ALPHA_VARIES = 255 * (1 - MIN_CONTRAST)
MIN_EXTENT = 0.08  # ink spanning less than this fraction of the drawing's longer side is a speck
MIN_EXTENT_PX = 3  # and so is ink spanning fewer pixels than this
# Where MNIST's centre of mass lands, in pixel-index coordinates (the mean over its training set).
CENTRE = (14.0, 14.0)


class BlankDrawing(ValueError):
    """The drawing holds no digit: no ink, a uniform image, or a speck too small to be one."""


@dataclass(frozen=True)
class Preprocessed:
    grey: np.ndarray  # (28, 28) float32 in [0, 1]: scaled, centred ink before thresholding
    bits: np.ndarray  # (28, 28) uint8 of 0/1: what the network sees

    def bit_string(self) -> str:
        """The 784 bits as a row-major string of '0' and '1'."""
        return (self.bits.reshape(-1) + ord("0")).astype(np.uint8).tobytes().decode("ascii")


def ink_map(image: np.ndarray) -> np.ndarray:
    """Where the ink is, as float32 in [0, 1] (1 = the strongest ink), from pixels on a 0-255 scale.

    image: (H, W) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB or (H, W, 4) RGBA. Where alpha varies
    (a transparent canvas) alpha is the ink; otherwise the ink is what differs from the background,
    estimated as the median of the border, so dark-on-light and light-on-dark both work.
    """
    return _normalise(_contrasted(_contrast(np.asarray(image))))


def _contrast(img: np.ndarray) -> np.ndarray:
    """How far each pixel is from the background, float32 on a 0-1 scale, before faint ink is dropped."""
    if img.ndim == 3 and img.shape[2] in (2, 4):
        # Only the channels in use become floats: most of a transparent canvas's RGBA is unused colour.
        alpha = img[:, :, -1].astype(np.float32)
        if alpha.min() < ALPHA_VARIES:
            return alpha / 255.0
        img = img[:, :, :-1]
    if img.ndim == 3 and img.shape[2] == 3:
        grey = _luma(img)
    elif img.ndim == 3 and img.shape[2] == 1:
        grey = img[:, :, 0].astype(np.float32)
    elif img.ndim == 2:
        grey = img.astype(np.float32)  # a copy, so the arithmetic below never writes to the caller's array
    else:
        raise ValueError(f"expected a (H, W), (H, W, 2), (H, W, 3) or (H, W, 4) image, got shape {img.shape}")
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    # |grey - background| / 255 in place: a photo's worth of pixels is not copied three times over
    grey -= np.median(border)
    np.abs(grey, out=grey)
    grey /= 255.0
    return grey


LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma, as Pillow's "L"
LUMA_ROWS = 256  # image rows converted to floats at a time: 12 MB at the largest image's width


def _luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) pixels -> (H, W) float32 luma, a band of rows at a time: converting a 16-megapixel photo
    whole would hold 192 MB of floats for a moment. Each row is the same product either way."""
    grey = np.empty(rgb.shape[:2], np.float32)
    for top in range(0, rgb.shape[0], LUMA_ROWS):
        np.matmul(rgb[top : top + LUMA_ROWS].astype(np.float32), LUMA, out=grey[top : top + LUMA_ROWS])
    return grey


def _contrasted(ink: np.ndarray) -> np.ndarray:
    """Ink below MIN_CONTRAST is background: 0. Multiplying by the mask gives np.where's numbers
    (ink is never negative) in well under half its time on a canvas-sized image."""
    return ink * (ink >= MIN_CONTRAST)


def _normalise(ink: np.ndarray) -> np.ndarray:
    """Scales float32 ink so the strongest is 1, in place: callers pass a fresh array from `_contrasted`."""
    peak = ink.max(initial=0.0)
    if peak > 0:
        ink /= peak
    return ink


class InkLayer:
    """Where a drawing's ink is (`mask`, as `ink_map(image) > 0`) and, for the pixels asked about, how
    strong (`at`, the values `ink_map` gives): the float arithmetic of a transparent canvas is done for
    the ink alone, not for every pixel of a wide pad."""

    __slots__ = ("_alpha", "_ink", "_levels", "mask")

    def __init__(self, image: np.ndarray) -> None:
        img = np.asarray(image)
        mask, contrast = _ink_mask(img)
        self.mask: np.ndarray = mask
        self._alpha: np.ndarray | None = None
        self._ink: np.ndarray | None = None
        self._levels: np.ndarray | None = None
        if contrast is not None:
            self._ink = _normalise(_contrasted(contrast))
        elif mask.any():
            self._alpha = img[:, :, -1]
            # The strongest alpha of the image is the strongest of its ink: some of it is ink. Each of the
            # 256 alphas' ink, as `ink_map`'s arithmetic has it, is then looked up, not computed per pixel.
            peak = (np.array([_strongest_alpha(img)], np.float32) / 255.0)[0]
            self._levels = _contrasted(_ALPHA_LEVELS / 255.0) / peak

    def at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The ink (float32 in [0, 1]) at these pixels, exactly as `ink_map` has it there."""
        if self._ink is not None:
            return self._ink[ys, xs]
        if self._alpha is None or self._levels is None:
            return np.zeros(np.shape(ys), np.float32)
        return self._levels[self._alpha[ys, xs]]

    def crop(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """The ink (float32 in [0, 1], 0 where there is none) of every pixel in rows top to bottom and
        columns left to right (exclusive), as a new array: `at` for all of them."""
        if self._ink is not None:
            return self._ink[top:bottom, left:right].copy()
        if self._alpha is None or self._levels is None:
            return np.zeros((bottom - top, right - left), np.float32)
        return self._levels[self._alpha[top:bottom, left:right]]


_ALPHA_LEVELS = np.arange(256, dtype=np.float32)
# The 8-bit versions of both tests, taken from the float computations so they agree for every value.
_ALPHA_VARIES_8BIT = int(np.count_nonzero(_ALPHA_LEVELS < ALPHA_VARIES))
_ALPHA_INK_8BIT = int(np.argmax(_contrasted(_ALPHA_LEVELS / 255.0) > 0))
MIN_INK_ALPHA = _ALPHA_INK_8BIT  # the least alpha (0-255) a transparent canvas's pixel needs to be ink


def _alpha_words(img: np.ndarray) -> tuple[np.ndarray, int] | None:
    """An 8-bit image with alpha, each pixel's bytes adjacent (rows and pixels may lie apart: a view), as
    little-endian words of 16 or 32 bits, one a pixel, whose top byte is its alpha, and that byte's shift;
    None for other images. Comparing words then compares alphas without copying the channel out."""
    if img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] in (2, 4) and img.strides[2] == 1:
        channels = img.shape[2]
        return img.view(f"<u{channels}")[:, :, 0], 8 * (channels - 1)
    return None


def _strongest_alpha(img: np.ndarray) -> int:
    """The largest alpha (0-255) of an image with alpha."""
    words = _alpha_words(img)
    return int(words[0].max() >> words[1]) if words is not None else int(img[:, :, -1].max())


def _ink_mask(img: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(which pixels are ink, `_contrast` of the whole image or None when only the crop needs it).

    An 8-bit transparent canvas, what the page (grey + alpha) and most drawing programs (RGBA) send, is
    tested on its alphas directly, as words (`_alpha_words`).
    """
    alpha_words = _alpha_words(img)
    if alpha_words is not None:
        words, shift = alpha_words
        if words.min() < _ALPHA_VARIES_8BIT << shift:
            return words >= _ALPHA_INK_8BIT << shift, None
    contrast = _contrast(img)
    return contrast >= MIN_CONTRAST, contrast


def preprocess(image: np.ndarray) -> Preprocessed:
    """A drawing (see `ink_map`) -> its 28x28 grey and binary inputs. Raises BlankDrawing.

    Only the crop around the ink goes through `ink_map`'s float arithmetic: outside it every pixel
    is background, so the crop's numbers are those `ink_map` gives for the whole image.
    """
    img = np.asarray(image)
    mask, contrast = _ink_mask(img)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise BlankDrawing("The drawing has no ink.")
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h, w = bottom - top, right - left
    if max(h, w) < max(MIN_EXTENT_PX, MIN_EXTENT * max(mask.shape)):
        raise BlankDrawing("The ink is too small to be a digit.")
    if contrast is None:
        contrast = np.divide(img[top:bottom, left:right, -1], 255.0, dtype=np.float32)
    else:
        contrast = contrast[top:bottom, left:right]
    return from_crop(_contrasted(contrast))


def from_crop(ink: np.ndarray) -> Preprocessed:
    """The ink cropped to a digit, float32 on a 0-1 scale with the background 0 (it is changed in place)
    -> its input: the rest of `preprocess`, for a caller that has found the digit's ink itself, as
    `app.nn.segment` has each digit of a number."""
    grey = centre(fit_box(_normalise(ink)))
    return Preprocessed(grey, binarize(grey))


def fit_box(crop: np.ndarray) -> np.ndarray:
    """Scale so the longer side is BOX pixels, keeping the aspect ratio (at least 1 pixel wide)."""
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Averaging over the pixels each output covers is anti-aliased and undoes a whole-number
    # enlargement exactly; enlarging a small drawing interpolates.
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    crop = np.ascontiguousarray(crop, dtype=np.float32)
    image = Image.frombuffer("F", (w, h), crop, "raw", "F", 0, 1)  # Image.fromarray's image, without its checks
    out = np.maximum(np.asarray(image.resize(size, resample), dtype=np.float32), 0.0)
    return np.minimum(out, 1.0, out=out)  # np.clip's numbers, without its wrapper


def centre(box: np.ndarray) -> np.ndarray:
    """Paste into SIZE x SIZE with the centre of mass at CENTRE (as near as whole pixels allow)."""
    h, w = box.shape
    mass = box.sum()
    cy = (box.sum(axis=1) @ np.arange(h)) / mass
    cx = (box.sum(axis=0) @ np.arange(w)) / mass
    top = min(max(round(CENTRE[0] - cy), 0), SIZE - h)
    left = min(max(round(CENTRE[1] - cx), 0), SIZE - w)
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top : top + h, left : left + w] = box
    return out


def binarize(grey: np.ndarray, threshold: float | np.ndarray = THRESHOLD) -> np.ndarray:
    """Grey ink in [0, 1] -> 0/1 pixels (uint8). Works on any shape, e.g. a batch with a threshold each."""
    return (grey >= threshold).astype(np.uint8)
