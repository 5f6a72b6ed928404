"""Atomic output files: written beside their target under a temporary name, then renamed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from specinterp.interfaces import SpecinterpError


def atomic_write(target: Path, write: Callable[[Path], None], protect: Path | None = None) -> Path:
    """Call ``write(tmp_path)`` then move it onto ``target``; refuse to overwrite ``protect`` (the input)."""
    target = Path(target)
    if protect is not None and target.resolve() == Path(protect).resolve():
        raise SpecinterpError(f"{target}: refusing to overwrite the input file")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
