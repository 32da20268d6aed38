"""Data augmentation on preprocessed grey inputs: the variations a hand on a screen adds.

Small rotations, scalings, shears and shifts (a random affine map), elastic distortion (a smooth
random displacement field, after Simard, Steinkraus and Platt, 2003), both in one bilinear
resampling, and thicker or thinner strokes (binarising at a jittered threshold, sometimes after a
one-pixel dilation). Each model chooses its own strengths: what helps the cnn can hurt logreg.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from app.nn.preprocess import SIZE, THRESHOLD, binarize


@dataclass(frozen=True)
class Augmentation:
    rotate_deg: float = 0.0  # uniform in +-rotate_deg
    scale: float = 0.0  # scale factor uniform in 1 +- scale (per axis, for aspect changes too)
    shear: float = 0.0  # uniform in +-shear
    shift_px: float = 0.0  # uniform in +-shift_px
    threshold_jitter: float = 0.0  # binarising threshold uniform in THRESHOLD +- threshold_jitter
    thicken: float = 0.0  # probability of a one-pixel dilation before binarising
    elastic_px: float = 0.0  # root-mean-square length of the elastic displacements, in pixels
    elastic_sigma: float = 4.0  # their smoothness: the standard deviation of the Gaussian, in pixels

    @property
    def warps(self) -> bool:
        return bool(self.rotate_deg or self.scale or self.shear or self.shift_px or self.elastic_px)

    @property
    def active(self) -> bool:
        return self.warps or bool(self.threshold_jitter or self.thicken)

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    def apply(self, grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """grey (B, 28, 28) float32 in [0, 1] -> augmented binary inputs (B, 28, 28) float32."""
        b = grey.shape[0]
        if not self.active:
            return binarize(grey).astype(np.float32)
        if self.warps:
            grey = self._warp(grey, rng)
        if self.thicken:
            thick = rng.random(b) < self.thicken
            grey[thick] = dilate(grey[thick])
        thresholds = THRESHOLD + rng.uniform(-self.threshold_jitter, self.threshold_jitter, (b, 1, 1))
        return binarize(grey, thresholds.astype(np.float32)).astype(np.float32)

    def _warp(self, grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b = grey.shape[0]
        theta = np.deg2rad(rng.uniform(-self.rotate_deg, self.rotate_deg, b))
        sy, sx = rng.uniform(1 - self.scale, 1 + self.scale, (2, b))
        shear = rng.uniform(-self.shear, self.shear, b)
        ty, tx = rng.uniform(-self.shift_px, self.shift_px, (2, b))
        cos, sin = np.cos(theta), np.sin(theta)
        # forward map A = R @ Shear @ Scale; sample the source at A^-1 (p - c - t) + c
        a = np.empty((b, 2, 2))
        a[:, 0, 0], a[:, 0, 1] = cos * sy, (cos * shear - sin) * sx
        a[:, 1, 0], a[:, 1, 1] = sin * sy, (sin * shear + cos) * sx
        inv = np.linalg.inv(a)  # (B, 2, 2)
        c = (SIZE - 1) / 2
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        p = np.stack([yy.ravel() - c, xx.ravel() - c])  # (2, 784)
        src = inv @ (p[None] - np.stack([ty, tx], axis=1)[:, :, None]) + c  # (B, 2, 784)
        if self.elastic_px:
            src += elastic_field(b, self.elastic_px, self.elastic_sigma, rng).reshape(b, 2, SIZE * SIZE)
        return bilinear(grey, src[:, 0], src[:, 1])


def elastic_field(b: int, rms_px: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """b smooth random displacement fields (B, 2, 28, 28): white noise blurred by a Gaussian of `sigma`
    pixels, each scaled so its displacements have a root mean square of `rms_px` pixels."""
    i = np.arange(SIZE)
    g = np.exp(-((i[:, None] - i[None, :]) ** 2) / (2 * sigma**2))
    g /= g.sum(axis=1, keepdims=True)
    field = g @ rng.standard_normal((b, 2, SIZE, SIZE)) @ g.T  # blurred along columns, then rows
    rms = np.sqrt((field**2).sum(axis=1).mean(axis=(1, 2)))  # (B,)
    return field * (rms_px / np.maximum(rms, 1e-12))[:, None, None, None]


def bilinear(images: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Sample images (B, H, W) at float coordinates y, x (B, H*W); outside is 0."""
    b, h, w = images.shape
    padded = np.zeros((b, h + 2, w + 2), np.float32)  # a zero border makes every 2x2 gather valid
    padded[:, 1:-1, 1:-1] = images
    y = np.clip(y + 1, 0, h + 0.999)
    x = np.clip(x + 1, 0, w + 0.999)
    y0, x0 = np.floor(y).astype(np.intp), np.floor(x).astype(np.intp)
    fy, fx = (y - y0).astype(np.float32), (x - x0).astype(np.float32)
    flat = padded.reshape(b, -1)
    stride = w + 2
    base = y0 * stride + x0

    def at(offset: int) -> np.ndarray:
        return np.take_along_axis(flat, np.minimum(base + offset, flat.shape[1] - 1), axis=1)

    top = at(0) * (1 - fx) + at(1) * fx
    bottom = at(stride) * (1 - fx) + at(stride + 1) * fx
    return (top * (1 - fy) + bottom * fy).reshape(b, h, w)


def dilate(grey: np.ndarray) -> np.ndarray:
    """Grey dilation by a plus-shaped 3x3 neighbourhood: strokes one pixel thicker."""
    out = grey.copy()
    out[:, 1:, :] = np.maximum(out[:, 1:, :], grey[:, :-1, :])
    out[:, :-1, :] = np.maximum(out[:, :-1, :], grey[:, 1:, :])
    out[:, :, 1:] = np.maximum(out[:, :, 1:], grey[:, :, :-1])
    out[:, :, :-1] = np.maximum(out[:, :, :-1], grey[:, :, 1:])
    return out
