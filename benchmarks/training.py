"""Training: one epoch of the shipped cnn's architecture, NumPy against PyTorch on the CPU.

Both sides start from the same weights, see the same 10,000 MNIST digits in the same shuffled batches
of 64, and take the same steps: softmax cross-entropy, SGD with momentum 0.9 and weight decay on the
weights only, dropout as in the recipe. Before timing, one step without dropout is taken on both and
the updated weights are compared. Run from the repository root:

    python -m benchmarks.training [--threads 1] [--epochs 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from app.nn.layers import Conv2D, Dense
from app.nn.network import Network, cnn
from app.nn.optim import SGD, softmax_cross_entropy
from app.nn.train import RECIPES
from benchmarks.common import add_malloc_option, describe_machine, fmt_time, mnist_inputs, table, tune_malloc

EXAMPLES = 10_000


def torch_model(network: Network, dropout: float):  # type: ignore[no-untyped-def]
    """The same architecture in PyTorch (NCHW), holding a copy of the network's weights."""
    import torch
    from torch import nn

    conv1, conv2, fc, out = (layer for layer in network.layers if layer.params)
    assert isinstance(conv1, Conv2D) and isinstance(conv2, Conv2D) and isinstance(fc, Dense)
    h, w, c = network.shapes[network.names.index("pool2")]  # what the dense layer reads, flattened
    model = nn.Sequential(
        nn.Conv2d(1, conv1.filters, conv1.kernel),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(conv1.filters, conv2.filters, conv2.kernel),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(h * w * c, fc.units),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(fc.units, 10),
    )
    with torch.no_grad():
        for ours, theirs in ((conv1, model[0]), (conv2, model[3])):
            assert isinstance(ours, Conv2D)
            theirs.weight.copy_(torch.from_numpy(ours.params["W"].transpose(3, 2, 0, 1).copy()))
            theirs.bias.copy_(torch.from_numpy(ours.params["b"]))
        # our flatten reads (H, W, C), PyTorch's (C, H, W): reorder the rows of the first dense layer
        rows = fc.params["W"].reshape(h, w, c, fc.units).transpose(2, 0, 1, 3).reshape(h * w * c, fc.units)
        model[7].weight.copy_(torch.from_numpy(rows.T.copy()))
        model[7].bias.copy_(torch.from_numpy(fc.params["b"]))
        assert isinstance(out, Dense)
        model[10].weight.copy_(torch.from_numpy(out.params["W"].T.copy()))
        model[10].bias.copy_(torch.from_numpy(out.params["b"]))
    return model


def torch_optimiser(model, lr: float, momentum: float, weight_decay: float):  # type: ignore[no-untyped-def]
    import torch

    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    return torch.optim.SGD(
        [{"params": weights, "weight_decay": weight_decay}, {"params": biases, "weight_decay": 0.0}],
        lr=lr,
        momentum=momentum,
    )


def numpy_epoch(network: Network, optimiser: SGD, x: np.ndarray, y: np.ndarray, order: np.ndarray, batch: int) -> float:
    loss = 0.0
    for first in range(0, len(order), batch):
        idx = order[first : first + batch]
        logits = network.forward(x[idx], train=True)
        step_loss, delta = softmax_cross_entropy(logits, y[idx])
        network.backward(delta)
        optimiser.step()
        loss += step_loss
    return loss


def torch_epoch(model, optimiser, x, y, order: np.ndarray, batch: int) -> float:  # type: ignore[no-untyped-def]
    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    loss = 0.0
    order_t = torch.from_numpy(order)
    for first in range(0, len(order), batch):
        idx = order_t[first : first + batch]
        optimiser.zero_grad(set_to_none=True)
        step_loss = loss_fn(model(x[idx]), y[idx])
        step_loss.backward()
        optimiser.step()
        loss += float(step_loss.detach())
    return loss


def check_same_step(x: np.ndarray, y: np.ndarray, lr: float, momentum: float, weight_decay: float) -> float:
    """One step without dropout on both sides; the largest difference between the updated weights."""
    import torch

    network = Network(cnn(dropout=0.0), seed=7)
    model = torch_model(network, 0.0)
    numpy_epoch(network, SGD(network.layers, lr, momentum, weight_decay), x, y, np.arange(64), 64)
    xt = torch.from_numpy(np.ascontiguousarray(x[:64].transpose(0, 3, 1, 2)))
    torch_epoch(
        model, torch_optimiser(model, lr, momentum, weight_decay), xt, torch.from_numpy(y[:64]), np.arange(64), 64
    )
    theirs = model[0].weight.detach().numpy().transpose(2, 3, 1, 0)
    return float(np.abs(network.layers[0].params["W"] - theirs).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for both NumPy's BLAS and PyTorch")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per side, alternating")
    parser.add_argument("--batch", type=int, default=64)
    add_malloc_option(parser)
    args = parser.parse_args(argv)
    malloc = tune_malloc(args)

    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    torch.set_num_threads(args.threads)
    recipe = RECIPES["cnn"]
    x, y = mnist_inputs(EXAMPLES)
    y = y.astype(np.int64)
    diff = check_same_step(x, y, recipe.lr, recipe.momentum, recipe.weight_decay)
    if diff > 1e-5:
        raise SystemExit(f"NumPy and PyTorch took different steps (weights differ by up to {diff:.2g})")

    network = Network(cnn(recipe.dropout), seed=recipe.seed)
    optimiser = SGD(network.layers, recipe.lr, recipe.momentum, recipe.weight_decay)
    model = torch_model(network, recipe.dropout)
    torch_opt = torch_optimiser(model, recipe.lr, recipe.momentum, recipe.weight_decay)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(y)
    rng = np.random.default_rng(0)
    times: dict[str, list[float]] = {"numpy": [], "torch": []}
    losses: dict[str, list[float]] = {"numpy": [], "torch": []}
    for _ in range(args.epochs + 1):  # the first epoch of each side warms up and is not counted
        order = rng.permutation(EXAMPLES)
        for side in ("numpy", "torch"):
            start = time.perf_counter()
            if side == "numpy":
                loss = numpy_epoch(network, optimiser, x, y, order, args.batch)
            else:
                loss = torch_epoch(model, torch_opt, xt, yt, order, args.batch)
            times[side].append(time.perf_counter() - start)
            losses[side].append(loss / -(-EXAMPLES // args.batch))
    med = {side: float(np.median(t[1:])) for side, t in times.items()}
    steps = -(-EXAMPLES // args.batch)
    print(f"## Training: one epoch of the cnn, NumPy vs PyTorch {torch.__version__}, {args.threads} thread(s)\n")
    print(describe_machine(malloc) + "\n")
    print(
        f"{EXAMPLES} images, batch {args.batch} ({steps} steps), SGD lr {recipe.lr} momentum {recipe.momentum} "
        f"weight decay {recipe.weight_decay}, dropout {recipe.dropout}; median of {args.epochs} epochs each; "
        f"one step without dropout agrees to {diff:.1e}.\n"
    )
    rows = [
        [side, fmt_time(med[side]), fmt_time(med[side] / steps), f"{losses[side][-1]:.4f}"]
        for side in ("numpy", "torch")
    ]
    print(table(["framework", "epoch", "step", "last epoch's mean loss"], rows))
    print(f"\nNumPy / PyTorch: {med['numpy'] / med['torch']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
