from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.nn.data import load_mnist

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The committed MNIST test set: images (10000, 28, 28) uint8 and labels."""
    return load_mnist(DATA_DIR, "test", download=False)
