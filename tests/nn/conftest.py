from __future__ import annotations

import numpy as np
import pytest

from app.nn.data import load_mnist
from tests.factories import TEST_DATA_DIR


@pytest.fixture(scope="session")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The committed MNIST test set: images (10000, 28, 28) uint8 and labels."""
    return load_mnist(TEST_DATA_DIR, "test", download=False)
