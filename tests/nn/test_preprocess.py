"""The one preprocessing function: MNIST's recipe, every polarity, and blank is blank."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.nn import preprocess as preprocess_module
from app.nn.preprocess import BOX, SIZE, BlankDrawing, InkLayer, binarize, centre, fit_box, ink_map, preprocess
from tests.factories import DIGIT_STROKES, TEST_DATA_DIR, agreement, stroke_image


def grey_canvas(**kwargs) -> np.ndarray:
    """A 7 drawn dark on white, as an (H, W) array."""
    return np.asarray(stroke_image(DIGIT_STROKES[7], **kwargs).convert("L"))


def test_output_is_28x28_binary_with_the_ink_fitted_and_centred():
    pre = preprocess(grey_canvas())
    assert pre.bits.shape == (SIZE, SIZE) and pre.bits.dtype == np.uint8
    assert set(np.unique(pre.bits)) == {0, 1}
    rows, cols = np.nonzero(pre.grey.any(axis=1))[0], np.nonzero(pre.grey.any(axis=0))[0]
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) == BOX
    ys, xs = np.nonzero(pre.grey)
    weights = pre.grey[ys, xs]
    assert abs(np.average(ys, weights=weights) - 14) <= 0.5
    assert abs(np.average(xs, weights=weights) - 14) <= 0.5
    assert len(pre.bit_string()) == 784 and set(pre.bit_string()) == {"0", "1"}


@pytest.mark.parametrize(("scale", "offset"), [(0.5, (-0.2, -0.2)), (0.4, (0.25, 0.2)), (0.9, (0.0, 0.05))])
def test_shifted_or_scaled_digit_gives_nearly_the_same_input(scale, offset):
    reference = preprocess(grey_canvas()).bits
    # the pen is the pad's, so a smaller digit has relatively thicker strokes; keep it comparable
    moved = preprocess(grey_canvas(scale=scale, offset=offset, pen=0.075 * scale)).bits
    assert agreement(reference, moved) >= 0.95


def test_canvas_size_does_not_matter():
    small = preprocess(grey_canvas(size=140)).bits
    large = preprocess(grey_canvas(size=560)).bits
    assert agreement(small, large) >= 0.95


def test_every_polarity_and_alpha_case_gives_the_same_input():
    rgb = stroke_image(DIGIT_STROKES[3])
    dark_on_light = np.asarray(rgb)
    light_on_dark = 255 - dark_on_light
    grey = np.asarray(rgb.convert("L"))
    ink = 255 - grey
    transparent = np.dstack([np.zeros_like(grey)] * 3 + [ink])  # black ink on a transparent canvas
    white_ink_transparent = np.dstack([np.full_like(grey, 255)] * 3 + [ink])
    grey_background = np.where(grey < 128, 30, 160).astype(np.uint8)  # dark ink on mid grey
    reference = preprocess(grey).bits
    for image in (
        dark_on_light,
        light_on_dark,
        ink,
        transparent,
        white_ink_transparent,
        grey_background,
        np.dstack([grey, np.full_like(grey, 255)]),
    ):
        np.testing.assert_array_equal(preprocess(image).bits, reference)


def whole_image_reference(image: np.ndarray) -> np.ndarray:
    """The grey input computed the long way: `ink_map` over the whole image, then crop, fit, centre."""
    ink = ink_map(image)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return centre(fit_box(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]))


@pytest.mark.parametrize("colours", [3, 1], ids=["rgba", "grey_alpha"])
def test_every_alpha_level_reads_as_on_the_whole_image(colours):
    """A transparent 8-bit canvas, RGBA or grey + alpha as the page posts it, is tested on its alphas
    directly; every level must be judged ink or background as the float arithmetic judges it. A dot of
    each level far from the digit widens the crop exactly when the float arithmetic calls it ink."""
    ink = 255 - np.asarray(stroke_image(DIGIT_STROKES[5], scale=0.6).convert("L"))
    colour = np.random.default_rng(7).integers(0, 256, (*ink.shape, colours), dtype=np.uint8)
    widened = 0
    for level in range(256):
        alpha = ink.copy()
        alpha[250:253, 250:253] = level
        canvas = np.dstack([colour, alpha])
        assert canvas.flags.c_contiguous
        grey = preprocess(canvas).grey
        np.testing.assert_array_equal(grey, whole_image_reference(canvas), err_msg=f"alpha {level}")
        # The same pixels with rows and pixels apart (a view into a bigger array, as a decoder may give)...
        spread = np.repeat(canvas, 2, axis=1)[:, ::2]
        assert not spread.flags.c_contiguous and spread.strides[2] == 1
        np.testing.assert_array_equal(preprocess(spread).grey, grey, err_msg=f"alpha {level}")
        # ...and with a pixel's channels apart, which takes the general path.
        strided = np.repeat(canvas, 2, axis=2)[:, :, ::2]
        assert strided.strides[2] != 1
        np.testing.assert_array_equal(preprocess(strided).grey, grey, err_msg=f"alpha {level}")
        widened += not np.array_equal(grey, preprocess(ink).grey)
    assert widened == 255 - 51 + 1  # alphas of 51 (a fifth of 255) and more are ink


def test_grey_alpha_and_rgba_canvases_of_the_same_alpha_give_the_same_input():
    """The page posts its drawing as grey + alpha: the same ink as the RGBA canvas, whatever the colour."""
    rgba = np.asarray(Image.open(TEST_DATA_DIR / "canvas-7.png"))
    grey_alpha = np.dstack([np.zeros(rgba.shape[:2], np.uint8), rgba[:, :, 3]])
    expected = preprocess(rgba)
    for image in (grey_alpha, np.dstack([np.full(rgba.shape[:2], 17, np.uint8), rgba[:, :, 3]])):
        got = preprocess(image)
        np.testing.assert_array_equal(got.bits, expected.bits)
        np.testing.assert_array_equal(got.grey, expected.grey)


@pytest.mark.parametrize("kind", ["grey_alpha", "rgba", "faint_rgba", "rgb", "grey", "faded_rgba", "blank"])
def test_the_ink_layer_has_the_whole_image_ink_where_asked(kind):
    """The mask and the values at any pixels are `ink_map`'s, number for number, whichever path the
    image takes (a transparent canvas's alphas, or the contrast with the background)."""
    rgb = stroke_image(DIGIT_STROKES[4], offset=(0.05, 0.1))
    alpha = 255 - np.asarray(rgb.convert("L"))
    image = {
        "grey_alpha": np.dstack([np.zeros_like(alpha), alpha]),
        "rgba": np.dstack([np.asarray(rgb), alpha]),
        "faint_rgba": np.dstack([np.asarray(rgb), (alpha * 0.7).astype(np.uint8)]),  # no pixel fully inked
        "rgb": np.asarray(rgb),
        "grey": np.asarray(rgb.convert("L")),
        "faded_rgba": np.dstack([np.asarray(rgb), np.full(alpha.shape, 204, np.uint8)]),
        "blank": np.dstack([np.zeros_like(alpha), np.zeros_like(alpha)]),
    }[kind]
    layer, expected = InkLayer(image), ink_map(image)
    np.testing.assert_array_equal(layer.mask, expected > 0)
    ys, xs = np.nonzero(expected > 0) if kind != "blank" else np.nonzero(np.ones_like(alpha))
    got = layer.at(ys, xs)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected[ys, xs])
    crop = layer.crop(10, 250, 30, 200)  # every pixel of a box, ink or not
    assert crop.dtype == np.float32
    np.testing.assert_array_equal(crop, expected[10:250, 30:200])


@pytest.mark.parametrize("kind", ["rgb", "grey", "opaque_rgba", "faded_rgba"])
def test_cropping_first_gives_the_whole_image_numbers(kind):
    rgb = stroke_image(DIGIT_STROKES[2], offset=(0.1, -0.05))
    faded = np.dstack([np.asarray(rgb), np.full((280, 280), 204, np.uint8)])  # alpha too even to be the ink
    image = {
        "rgb": np.asarray(rgb),
        "grey": np.asarray(rgb.convert("L")),
        "opaque_rgba": np.asarray(rgb.convert("RGBA")),
        "faded_rgba": faded,
    }[kind]
    np.testing.assert_array_equal(preprocess(image).grey, whole_image_reference(image))


def test_luma_by_bands_of_rows_is_the_whole_image_product(monkeypatch: pytest.MonkeyPatch):
    rgb = np.random.default_rng(3).integers(0, 256, (301, 97, 3), dtype=np.uint8)
    whole = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    monkeypatch.setattr("app.nn.preprocess.LUMA_ROWS", 64)  # five bands, the last one short
    np.testing.assert_array_equal(preprocess_module._luma(rgb), whole)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_the_callers_pixels_are_left_as_they_were(dtype):
    grey = grey_canvas().astype(dtype)
    before = grey.copy()
    preprocess(grey)
    np.testing.assert_array_equal(grey, before)


def test_pixels_may_be_floats_on_the_0_255_scale():
    grey = grey_canvas().astype(np.float64)
    np.testing.assert_array_equal(preprocess(grey).bits, preprocess(grey.astype(np.uint8)).bits)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((280, 280), np.uint8),  # nothing
        np.full((280, 280), 255, np.uint8),  # white page
        np.full((100, 80, 3), 128, np.uint8),  # uniform grey
        np.dstack([np.zeros((50, 50, 3), np.uint8), np.zeros((50, 50), np.uint8)]),  # transparent canvas
        np.pad(np.full((4, 4), 255, np.uint8), 138),  # a speck on a pad-size canvas
        np.pad(np.full((1, 1), 255, np.uint8), 13),  # one pixel on a 28x28 grid
        (np.random.default_rng(0).integers(0, 30, (200, 200))).astype(np.uint8),  # faint noise, no ink
    ],
    ids=["black", "white", "grey", "transparent", "speck", "pixel", "noise"],
)
def test_blank_drawings_are_reported_as_blank(image):
    with pytest.raises(BlankDrawing):
        preprocess(image)


def test_faint_ink_is_still_found_and_scaled_to_full_strength():
    grey = grey_canvas()
    faint = np.where(grey < 128, 180, 255).astype(np.uint8)  # light grey pencil on white
    assert ink_map(faint).max() == 1.0
    np.testing.assert_array_equal(preprocess(faint).bits, preprocess(grey).bits)


def test_tiny_drawing_is_enlarged_to_the_box():
    # a 10-pixel-tall digit on a 28x28 grid is scaled up, not left small
    small = np.asarray(Image.fromarray(grey_canvas(size=280)).resize((14, 14), Image.Resampling.BOX))
    pre = preprocess(np.pad(small, 7, constant_values=255))
    assert pre.bits.sum() > 40


def test_mnist_digits_give_the_same_bits_at_pad_size(mnist_test):
    """A digit blown up to the pad's size, as the page posts it, reads as training read it."""
    images, _ = mnist_test
    for image in images[:200]:
        big = np.asarray(Image.fromarray(image).resize((280, 280), Image.Resampling.NEAREST))
        np.testing.assert_array_equal(preprocess(big).bits, preprocess(image).bits)


def test_binarize_uses_one_threshold_everywhere():
    grey = np.array([[0.0, 0.49, 0.5, 1.0]], np.float32)
    np.testing.assert_array_equal(binarize(grey), [[0, 0, 1, 1]])


def test_rejects_images_of_unknown_shape():
    with pytest.raises(ValueError, match="shape"):
        preprocess(np.zeros((4, 4, 5)))
