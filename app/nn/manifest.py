"""SHA-256 sums of the model files, in a SHA256SUMS file beside them (the format `sha256sum -c` reads).

A server verifies a model file against the sums before parsing it, so a file that was tampered with,
truncated or swapped is never loaded. `digitpad train` records the file it writes; `digitpad manifest`
rewrites the sums of every model file in a folder.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from app.nn.network import ModelFileError

MANIFEST = "SHA256SUMS"
LINE = re.compile(r"\A(?P<sum>[0-9a-f]{64}) [ *](?P<name>[^/\\]+)\Z")


def sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def read_manifest(folder: Path) -> dict[str, str]:
    """File name -> SHA-256 hex digest. Raises ModelFileError if the manifest is missing or malformed."""
    path = folder / MANIFEST
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"Model manifest {path} cannot be read ({exc}); write it with "
            f"`digitpad manifest {folder}` once the model files there are the ones to trust."
        ) from exc
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = LINE.match(line)
        if not match:
            raise ModelFileError(f"Model manifest {path} line {number} is not `<sha256>  <file name>`.")
        sums[match["name"]] = match["sum"]
    return sums


def verify(path: Path) -> None:
    """Raises ModelFileError, naming the file, unless its SHA-256 is the one the manifest beside it records."""
    try:
        sums = read_manifest(path.parent)
    except ModelFileError as exc:
        raise ModelFileError(f"Model file {path} cannot be verified. {exc}") from exc
    expected = sums.get(path.name)
    if expected is None:
        raise ModelFileError(f"Model file {path} is not listed in {path.parent / MANIFEST}; refusing to load it.")
    if not path.is_file():
        raise ModelFileError(f"Model file {path} does not exist.")
    actual = sha256(path)
    if actual != expected:
        raise ModelFileError(
            f"Model file {path} does not match its SHA-256 in {path.parent / MANIFEST} "
            f"(expected {expected[:12]}..., found {actual[:12]}...): it was changed or "
            f"truncated after it was recorded; refusing to load it."
        )


def write_manifest(folder: Path, names: list[str] | None = None) -> Path:
    """Record the SHA-256 of model files in `folder`: the given names (other entries kept), else every *.npz."""
    path = folder / MANIFEST
    sums: dict[str, str] = {}
    if names is None:
        names = sorted(p.name for p in folder.glob("*.npz") if not p.name.endswith(".tmp.npz"))
    elif path.is_file():
        try:
            sums = read_manifest(folder)
        except ModelFileError:  # an unreadable manifest vouches for nothing: start it again
            sums = {}
    for name in names:
        sums[name] = sha256(folder / name)
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())), encoding="ascii")
    tmp.replace(path)
    return path
