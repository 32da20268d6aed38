"""Accuracy figures: top-1, top-2, per class and the confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.nn.network import Network


def predict_batches(network: Network, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Probabilities for many binary inputs (N, 28, 28), a batch at a time to bound memory."""
    return np.concatenate([network.predict_proba(x[i : i + batch]) for i in range(0, len(x), batch)])


def accuracy_report(probs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """probs (N, 10), labels (N,) -> accuracy, top2_accuracy, per_class and confusion[true][predicted]."""
    labels = np.asarray(labels, dtype=np.intp)
    top2 = np.argsort(-probs, axis=1, kind="stable")[:, :2]
    predicted = top2[:, 0]
    k = probs.shape[1]
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {
        "count": len(labels),
        "accuracy": float((predicted == labels).mean()),
        "top2_accuracy": float((top2 == labels[:, None]).any(axis=1).mean()),
        "per_class": [round(float(a), 5) for a in per_class],
        "confusion": confusion.tolist(),
    }


def format_report(report: dict[str, Any]) -> str:
    """A plain-text report for a terminal."""
    lines = [
        f"examples       {report['count']}",
        f"top-1 accuracy {100 * report['accuracy']:.2f} %",
        f"top-2 accuracy {100 * report['top2_accuracy']:.2f} %",
        "",
        "per class      " + " ".join(f"{d:>6}" for d in range(len(report["per_class"]))),
        "               " + " ".join(f"{100 * a:6.2f}" for a in report["per_class"]),
        "",
        "confusion (rows: true digit, columns: guess)",
        "      " + " ".join(f"{d:>5}" for d in range(len(report["confusion"]))),
    ]
    lines += [f"{t:>5} " + " ".join(f"{c:>5}" for c in row) for t, row in enumerate(report["confusion"])]
    return "\n".join(lines)
