"""The objective and the optimiser.

Deep learning is maximum likelihood estimation: we maximise the log conditional likelihood
sum_i log p(y_i | x_i; theta) of the training labels. With a softmax output that is the same as
minimising the softmax cross-entropy below, so gradient ascent on the likelihood is gradient
descent on this loss.
"""

from __future__ import annotations

import numpy as np

from app.nn.layers import DTYPE, Array, Layer, softmax


def softmax_cross_entropy(logits: Array, labels: Array) -> tuple[float, Array]:
    """Mean negative log-likelihood of integer labels under softmax(logits), and d loss / d logits.

    logits: (B, K) float32, labels: (B,) ints. The gradient is the classic (p - onehot(y)) / B.
    """
    b = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1))
    log_p = shifted[np.arange(b), labels] - log_z
    loss = float(-log_p.mean())
    delta = softmax(logits)
    delta[np.arange(b), labels] -= 1
    return loss, (delta / b).astype(DTYPE, copy=False)


class SGD:
    """Mini-batch stochastic gradient descent with (classical) momentum and L2 weight decay.

        v <- momentum * v - lr * (g + weight_decay * W)
        W <- W + v

    Biases are not decayed.
    """

    def __init__(self, layers: list[Layer], lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        self.layers = [layer for layer in layers if layer.params]
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.velocity = [{k: np.zeros_like(p) for k, p in layer.params.items()} for layer in self.layers]

    def step(self) -> None:
        lr, mu, wd = DTYPE(self.lr), DTYPE(self.momentum), DTYPE(self.weight_decay)
        for layer, velocity in zip(self.layers, self.velocity, strict=True):
            for key, param in layer.params.items():
                grad = layer.grads[key]
                if wd and key == "W":
                    grad = grad + wd * param
                v = velocity[key]
                v *= mu
                v -= lr * grad
                param += v
