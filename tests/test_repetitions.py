"""Repeated recordings kept on one side of the `random` split (specinterp.splits, GTZAN's repetitions.txt)."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest

from conftest import SHARED_GTZAN
from specinterp.interfaces import Clip, SpecinterpError, Split
from specinterp.splits import PARTS, keep_groups_together, random_split, read_groups
from specinterp_plugins.datasets.gtzan import GENRES, GTZAN, REPETITIONS, SPLITS_DIR

RANK = {p: i for i, p in enumerate(PARTS)}  # train < valid < test: lower is "more trained"


def clips(per_label: int = 20, labels: int = 3) -> list[Clip]:
    return [Clip(id=f"g{k}/c{i:02d}", path=Path(f"g{k}/c{i:02d}.wav"), label=k)
            for k in range(labels) for i in range(per_label)]


def part_of(split: Split) -> dict[str, str]:
    return {c.id: p for p, members in split.parts.items() for c in members}


def test_groups_land_whole_in_the_most_trained_part_they_drew():
    pool = clips()
    plain = random_split(pool, seed=4)
    before = part_of(plain)
    by_part = {p: sorted(c.id for c in plain.parts[p]) for p in PARTS}
    # groups that straddle every pair of parts, one across labels, and one with an id not in the split
    groups = [(by_part["test"][0], by_part["valid"][0]), (by_part["test"][1], by_part["train"][0]),
              (by_part["valid"][1], by_part["train"][1], by_part["test"][2]), (by_part["train"][2], "absent/clip")]
    grouped = random_split(pool, seed=4, groups=groups)
    after = part_of(grouped)
    assert sorted(after) == sorted(before)
    for group in groups:
        present = [m for m in group if m in before]
        assert len({after[m] for m in present}) == 1
        assert after[present[0]] == min((before[m] for m in present), key=RANK.get)
    # clips only move towards train: the new test part is a subset of the old one
    assert all(RANK[after[i]] <= RANK[before[i]] for i in before)
    assert {c.id for c in grouped.parts["test"]} == set(by_part["test"]) - set(by_part["test"][:3])
    assert [after[m] for m in groups[0]] == ["valid", "valid"] and after[by_part["test"][2]] == "train"


def test_groups_sharing_a_clip_are_merged():
    a, b, c = (Clip(id=i, path=Path(i), label=0) for i in ("a", "b", "c"))
    split = Split("s", {"train": [a], "valid": [], "test": [b, c]})
    moved = keep_groups_together(split, [("b", "c"), ("c", "a")])
    assert [x.id for x in moved.parts["train"]] == ["a", "b", "c"] and not moved.parts["test"]


def test_without_groups_nothing_changes():
    pool = clips()
    plain = random_split(pool, seed=7)
    assert random_split(pool, seed=7, groups=()).digest() == plain.digest()
    assert keep_groups_together(plain, []).digest() == plain.digest()
    together = [(x.id, y.id) for x, y in pairwise(plain.parts["test"])]  # all inside test
    assert keep_groups_together(plain, together).digest() == plain.digest()


def test_unknown_part_names_are_refused():
    split = Split("odd", {"train": [], "holdout": [Clip(id="a", path=Path("a"), label=0)]})
    with pytest.raises(SpecinterpError, match="holdout"):
        keep_groups_together(split, [("a", "b")])


def test_read_groups(tmp_path):
    path = tmp_path / "groups.txt"
    path.write_text("# header\n\njazz/jazz.00033 jazz/jazz.00051  # comment\n a b c\n")
    assert read_groups(path) == [("jazz/jazz.00033", "jazz/jazz.00051"), ("a", "b", "c")]
    path.write_text("a b\nlonely\n")
    with pytest.raises(SpecinterpError, match=r"groups.txt:2: .*only lonely"):
        read_groups(path)
    with pytest.raises(SpecinterpError, match="not found"):
        read_groups(tmp_path / "absent.txt")


def test_shipped_repetitions_are_gtzan_ids_and_the_filtered_lists_keep_one_of_each():
    groups = read_groups(REPETITIONS)
    name = re.compile(r"^(?P<genre>[a-z]+)/(?P=genre)\.000\d\d$")
    ids = [i for g in groups for i in g]
    assert len(groups) >= 50 and all(name.match(i) and i.split("/")[0] in GENRES for i in ids)
    assert {"jazz/jazz.00033", "jazz/jazz.00051"} <= set(ids) and ("metal/metal.00058", "rock/rock.00016") in groups
    listed = {line.rsplit(".", 1)[0] for p in PARTS for line in (SPLITS_DIR / f"{p}_filtered.txt").read_text().split()}
    assert all(len(listed & set(g)) <= 1 for g in groups)  # Kereliuk's fault filtering drops repetitions


FIVE_PAIRS = [("jazz/jazz.00060", "jazz/jazz.00037"), ("jazz/jazz.00038", "jazz/jazz.00062"),
              ("jazz/jazz.00051", "jazz/jazz.00033"), ("jazz/jazz.00036", "jazz/jazz.00058"),
              ("pop/pop.00045", "pop/pop.00046")]


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_GTZAN.is_dir(),
                    reason="real GTZAN copy not present (../shared/gtzan or $SPECINTERP_GTZAN)")
def test_real_random_split_keeps_the_leaked_recordings_out_of_test():
    dataset = GTZAN(SHARED_GTZAN)
    split = dataset.split("random", 0)
    where = part_of(split)
    assert all(where[a] == where[b] != "test" for a, b in FIVE_PAIRS)
    plain_test = {c.id for c in random_split(dataset.clips(), 0).parts["test"]}
    assert {c.id for c in split.parts["test"]} == plain_test - {a for a, _ in FIVE_PAIRS}
    for group in read_groups(REPETITIONS):
        assert len({where[m] for m in group if m in where}) <= 1
