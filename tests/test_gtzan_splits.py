import numpy as np
import pytest

from conftest import SHARED_GTZAN
from specinterp import windows as win
from specinterp.interfaces import SpecinterpError
from specinterp_plugins.datasets.gtzan import GENRES, GTZAN, PARTS, SPLITS_DIR, listed_split, random_split


def test_scan_finds_clips_with_labels(fake_gtzan):
    (fake_gtzan / "rock" / "notes.txt").write_text("not audio")
    (fake_gtzan / "rock" / "blues.00001.wav").write_bytes(b"")  # wrong genre prefix: ignored
    ds = GTZAN(fake_gtzan)
    clips = ds.clips()
    assert len(clips) == 24
    assert {GENRES[c.label] for c in clips} == {"blues", "classical", "rock"}
    assert all(c.id.startswith(GENRES[c.label] + "/") for c in clips)


def test_random_split_is_stratified_seeded_and_disjoint(fake_gtzan):
    ds = GTZAN(fake_gtzan)
    a, b, c = ds.split("random", 0), ds.split("random", 0), ds.split("random", 1)
    assert a.digest() == b.digest() != c.digest()
    ids = [{x.id for x in a.parts[p]} for p in PARTS]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert sum(map(len, ids)) == 24
    for label in {x.label for x in ds.clips()}:
        counts = [sum(x.label == label for x in a.parts[p]) for p in PARTS]
        assert counts == [6, 1, 1]


def test_no_clip_has_windows_in_two_splits(fake_gtzan, cache):
    """Windows are cut per clip after splitting, so every window's clip belongs to exactly one part."""
    from specinterp import features

    ds = GTZAN(fake_gtzan)
    split = ds.split("random", 3)
    owner = {}
    for part, clips in split.parts.items():
        for clip in clips:
            w = win.split(features.logmel(clip.path))
            for start in w.starts:
                key = (clip.id, int(start))
                assert owner.setdefault(key, part) == part
    parts_per_clip = {}
    for (clip_id, _), part in owner.items():
        parts_per_clip.setdefault(clip_id, set()).add(part)
    assert all(len(p) == 1 for p in parts_per_clip.values())
    assert len(parts_per_clip) == 24


def test_listed_split_uses_present_clips_and_counts_missing(fake_gtzan, tmp_path):
    lists = {}
    for part, names in {"train": ["blues/blues.00000.wav", "blues/blues.00099.wav"],
                        "valid": ["rock/rock.00001.au"], "test": ["jazz/jazz.00003.wav"]}.items():
        lists[part] = tmp_path / f"{part}.txt"
        lists[part].write_text("\n".join(names) + "\n")
    split = listed_split(GTZAN(fake_gtzan).clips(), "custom", lists)
    assert [c.id for c in split.parts["train"]] == ["blues/blues.00000"]
    assert [c.id for c in split.parts["valid"]] == ["rock/rock.00001"]  # extension ignored
    assert split.missing == {"train": 1, "valid": 0, "test": 1}


def test_shipped_filtered_lists_are_kereliuk_sizes_and_disjoint():
    ids = {p: {line.rsplit(".", 1)[0] for line in (SPLITS_DIR / f"{p}_filtered.txt").read_text().split()}
           for p in PARTS}
    assert [len(ids[p]) for p in PARTS] == [443, 197, 290]
    assert not (ids["train"] & ids["test"] or ids["train"] & ids["valid"] or ids["valid"] & ids["test"])


def test_bad_folder_and_bad_split_name(tmp_path, fake_gtzan):
    with pytest.raises(SpecinterpError, match="not found"):
        GTZAN(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecinterpError, match="no clips"):
        GTZAN(tmp_path / "empty")
    with pytest.raises(SpecinterpError, match="unknown split"):
        GTZAN(fake_gtzan).split("leaky")


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_GTZAN.is_dir(), reason="real GTZAN copy not present (../shared/gtzan)")
def test_real_copy_splits():
    ds = GTZAN(SHARED_GTZAN)
    filtered = ds.split("filtered")
    assert sum(map(len, filtered.parts.values())) + sum(filtered.missing.values()) == 930
    assert {len(v) for v in ds.split("random").parts.values()} and len(ds.clips()) == 489
    r = random_split(ds.clips(), 0)
    assert not {c.id for c in r.parts["train"]} & {c.id for c in r.parts["test"]}
    assert np.isclose(len(r.parts["train"]) / len(ds.clips()), 0.7, atol=0.03)
