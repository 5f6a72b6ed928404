"""Log-mel spectrograms of dataset clips, computed once and cached on disk as float16 .npy."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from specinterp import audio, frontend
from specinterp.interfaces import Clip
from specinterp.outputs import atomic_write


def cache_dir() -> Path:
    """``$SPECINTERP_CACHE`` or ``~/.cache/specinterp``."""
    return Path(os.environ.get("SPECINTERP_CACHE", Path.home() / ".cache" / "specinterp"))


def _key(path: Path, config: frontend.FrontendConfig) -> str:
    stat = path.stat()
    text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{config}"
    return hashlib.sha1(text.encode()).hexdigest()


def logmel(path: Path, config: frontend.FrontendConfig = frontend.DEFAULT, cache: Path | None = None) -> np.ndarray:
    """The clip's ``(n_mels, T)`` log-mel (float32), from the cache when present."""
    target = (cache or cache_dir()) / "logmel" / f"{_key(path, config)}.npy"
    if target.is_file():
        return np.load(target, allow_pickle=False).astype(np.float32)
    spec = frontend.log_mel(audio.load(path, config.sample_rate), config).astype(np.float16)
    atomic_write(target, lambda tmp: _save_npy(tmp, spec))
    return spec.astype(np.float32)  # the cached precision, so a first run equals a cached one


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # through a file: np.save would add ".npy" to the temporary path
        np.save(f, array, allow_pickle=False)


def logmels(clips: list[Clip], cache: Path | None = None, progress: bool = True,
            config: frontend.FrontendConfig = frontend.DEFAULT) -> dict[str, np.ndarray]:
    """Log-mels of many clips by clip id on the ``config`` front end, with a progress bar."""
    return {c.id: logmel(c.path, config, cache) for c in tqdm(clips, desc="log-mel", unit="clip", disable=not progress)}
