"""DigitPad: draw a digit, watch the network think."""

__version__ = "1.0.0"
