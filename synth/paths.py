"""Where the programs write: folders that can be written, paths that stay inside them.

Used by `python -m synth --out` (synth/publish.py) and the run directory (rl/rundir.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def writable_folder(path: Path) -> bool:
    """Whether `path` is, or can be made, a folder we can write in: probed by making (and
    removing) a temporary folder in it or in its nearest existing parent, since permission bits
    say nothing to root and nothing of read-only or virtual file systems (/proc)."""
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return False
    try:
        with tempfile.TemporaryDirectory(prefix=".longhorizon-probe-", dir=existing) as probe:
            (Path(probe) / "child").mkdir()
    except OSError:
        return False
    return True


def lies_inside(path: Path, root: Path) -> bool:
    """Whether `path` stays under `root` once both are resolved (symlinks and `..` followed)."""
    return path.resolve().is_relative_to(root.resolve())
