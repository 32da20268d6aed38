"""DigitPad's neural networks in NumPy: layers, networks, preprocessing, data and training."""
