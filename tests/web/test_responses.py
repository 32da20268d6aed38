"""What answers look like: activations quantised to a byte each, feature maps channel first."""

from __future__ import annotations

import base64

import numpy as np

from app.nn.network import LayerInfo
from app.web.responses import encode_activations, layer_shape


def decode(layer: dict) -> np.ndarray:
    q = np.frombuffer(base64.b64decode(layer["data"]), np.uint8).reshape(layer["shape"])
    return layer["min"] + q / 255 * (layer["max"] - layer["min"])


def test_maps_are_sent_channel_first_within_a_byte_of_their_values():
    values = np.random.default_rng(0).normal(size=(8, 6, 3)).astype(np.float32)  # (H, W, C)
    info = LayerInfo("conv1", "conv", (8, 6, 3), 0)
    layer = encode_activations(info, values)
    assert layer["shape"] == layer_shape(info) == [3, 8, 6]
    assert (layer["min"], layer["max"]) == (float(values.min()), float(values.max()))
    step = (layer["max"] - layer["min"]) / 255
    np.testing.assert_allclose(decode(layer), values.transpose(2, 0, 1), atol=step / 2 + 1e-6)


def test_a_constant_layer_is_all_zeros_at_its_value():
    layer = encode_activations(LayerInfo("fc", "dense", (5,), 0), np.full(5, 2.5, np.float32))
    assert layer["min"] == layer["max"] == 2.5
    np.testing.assert_array_equal(decode(layer), np.full(5, 2.5))
