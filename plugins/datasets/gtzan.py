"""GTZAN (Tzanetakis and Cook 2002) as a folder ``<genre>/<genre>.000NN.<ext>``, with clip-level splits.

Splits are by clip, never by window, so no clip has windows on two sides. Beyond that:

- ``random``: stratified per genre, 70 / 15 / 15, seeded; then every group of clips that hold one
  recording (``splits/repetitions.txt``: Sturm's exact replicas and excerpts of one recording, and
  what ``scripts/find_repetitions.py`` found) is kept on one side, moved whole into the most trained
  part any of its clips drew (train, then valid, then test; see
  :func:`specinterp.splits.keep_groups_together`). So no listed recording is on both sides, and the
  test part is the plain stratified one less the clips moved out of it. Artists still repeat across
  parts (Sturm 2013), as do recordings that are not listed.
- ``filtered``: the fault-filtered, artist-aware split of Kereliuk, Sturm and Larsen (2015),
  443 / 197 / 290 clips, shipped in ``splits/``: repetitions and distorted clips dropped, no artist on
  two sides. On a partial copy it uses the clips present and counts the ones it missed.
"""

from __future__ import annotations

import re
from pathlib import Path

from specinterp import hookimpl
from specinterp.audio import AUDIO_SUFFIXES
from specinterp.interfaces import Clip, Dataset, DatasetPlugin, SpecinterpError, Split
from specinterp.splits import PARTS, listed_split, random_split, read_groups

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
SPLITS_DIR = Path(__file__).parent / "splits"
REPETITIONS = SPLITS_DIR / "repetitions.txt"
_NAME = re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})$")


class GTZAN(Dataset):
    name = "gtzan"
    classes = GENRES

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise SpecinterpError(f"{self.root}: GTZAN folder not found")
        self._clips = self._scan()
        if not self._clips:
            raise SpecinterpError(f"{self.root}: no clips named <genre>/<genre>.000NN.<audio suffix>")

    def _scan(self) -> list[Clip]:
        clips = []
        for index, genre in enumerate(GENRES):
            folder = self.root / genre
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                match = _NAME.match(path.stem)
                if path.suffix.lower() in AUDIO_SUFFIXES and match and match["genre"] == genre:
                    clips.append(Clip(id=f"{genre}/{path.stem}", path=path, label=index))
        return clips

    def clips(self) -> list[Clip]:
        return list(self._clips)

    def split_names(self) -> tuple[str, ...]:
        return ("random", "filtered")

    def split(self, name: str, seed: int = 0) -> Split:
        if name == "random":
            return random_split(self._clips, seed, groups=read_groups(REPETITIONS))
        if name == "filtered":
            return listed_split(self._clips, "filtered", {p: SPLITS_DIR / f"{p}_filtered.txt" for p in PARTS})
        raise SpecinterpError(f"unknown split '{name}' for gtzan (available: random, filtered)")


@hookimpl
def register_datasets(register) -> None:
    register(DatasetPlugin(name="gtzan", open=GTZAN, env_var="SPECINTERP_GTZAN",
                           description="GTZAN genre folder; splits random (70/15/15, repetitions kept together) and "
                                       "filtered (Kereliuk 2015)"))
