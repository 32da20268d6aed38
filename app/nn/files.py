"""The network package's array files (NumPy .npz): written whole or not at all, read without unpickling
anything, with the JSON description of what they hold (`__meta__`) where they carry one."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

META = "__meta__"  # the array that holds a file's JSON description, as UTF-8 bytes
# What reading a damaged, truncated or foreign file raises.
UNREADABLE = (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError)


def save_arrays(path: Path, arrays: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> None:
    """Write `arrays` (and `meta` as JSON) to `path` compressed, through a temporary file beside it, so a
    reader never sees half a file."""
    if meta is not None:
        arrays = {META: np.frombuffer(json.dumps(meta, indent=1).encode(), dtype=np.uint8), **arrays}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load_with_meta(path: Path) -> tuple[Any, dict[str, np.ndarray]]:
    """A file that `save_arrays` wrote with `meta`: its description (any JSON value) and its other arrays.
    Raises one of UNREADABLE."""
    with path.open("rb") as file, np.load(file, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return json.loads(arrays.pop(META).tobytes()), arrays
