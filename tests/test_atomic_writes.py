"""Files specinterp keeps (the log-mel cache, the synthetic set) appear whole or not at all."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from specinterp import features
from specinterp_plugins.datasets import synthetic as syn


def test_a_synthetic_set_stopped_half_way_leaves_nothing_and_is_made_again(tmp_path, monkeypatch):
    written = []

    def fail_on_the_third(path, *args, **kwargs):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(path)
        sf.write(path, *args, **kwargs)

    monkeypatch.setattr(syn.sf, "write", fail_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        syn.SyntheticDataset(tmp_path / "synthetic", per_class=1)
    assert written and list(tmp_path.iterdir()) == []  # neither the set nor its staging folder
    monkeypatch.undo()
    dataset = syn.SyntheticDataset(tmp_path / "synthetic", per_class=1)
    assert len(dataset.clips()) == len(syn.CLASSES)
    assert [p.name for p in tmp_path.iterdir()] == ["synthetic"]


def test_the_logmel_cache_holds_only_whole_files(tmp_path):
    song = tmp_path / "song.wav"
    sf.write(song, np.sin(np.linspace(0, 2000, 22050)).astype(np.float32), 22050)
    first = features.logmel(song, cache=tmp_path / "cache")
    cached = list((tmp_path / "cache").rglob("*"))
    assert [p.suffix for p in cached if p.is_file()] == [".npy"]  # no temporary file left beside it
    assert np.array_equal(features.logmel(song, cache=tmp_path / "cache"), first)
