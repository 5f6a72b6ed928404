"""Output files: atomic writes, the output folder's check, and its manifest of what specinterp wrote there.

Temporary files are hidden and end in ``.part`` (``.<name>.<random>.part``), so no audio scanner picks
up one that a killed run left behind. The manifest, ``OUT/.specinterp-manifest.jsonl``, gets one JSON
line per explained input: the input, the job (what was asked), the input's size and mtime, and the
outputs written (relative to ``OUT``). ``--resume`` reads it to skip finished inputs, and folder scans
read it to skip our own outputs.

Under torchrun several processes, perhaps on several machines, write into one ``OUT``: rank R appends
only to its own ``OUT/.specinterp-manifest.rank<R>.jsonl``, so no file has two writers (appends from two
machines to one file on a network filesystem can interleave), and every reader reads all of them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from specinterp.interfaces import SpecinterpError

TEMP_SUFFIX = ".part"
MANIFEST = ".specinterp-manifest.jsonl"
RANK_MANIFEST = ".specinterp-manifest.rank{rank}.jsonl"
_MANIFEST_NAME = re.compile(r"\.specinterp-manifest(\.rank(\d+))?\.jsonl")


def atomic_write(target: Path, write: Callable[[Path], None], protect: Path | None = None) -> Path:
    """Call ``write(tmp_path)`` then move it onto ``target``; refuse to overwrite ``protect`` (the input).

    ``tmp_path`` ends in ``.part``: ``write`` must not infer the file format from the suffix.
    """
    target = Path(target)
    if protect is not None and target.resolve() == Path(protect).resolve():
        raise SpecinterpError(f"{target}: refusing to overwrite the input file")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
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


def prepare_folder(folder: Path, flag: str = "--out") -> bool:
    """Make sure ``folder`` is a folder we can write in, creating it if needed; True when created here.

    Raises a one-line :class:`SpecinterpError` for a file in the way, a path under a file, or a folder
    that cannot be created or written in.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SpecinterpError(f"{flag} {folder}: is a file, not a folder")
    blocker = next((p for p in folder.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise SpecinterpError(f"{flag} {folder}: {blocker} is a file, not a folder")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpecinterpError(f"{flag} {folder}: cannot create the folder ({exc.strerror or exc})") from None
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".specinterp-probe-", suffix=TEMP_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SpecinterpError(f"{flag} {folder}: cannot write in this folder ({exc.strerror or exc})") from None
    return created


class Manifest:
    """What specinterp wrote in one output folder: one record per explained input, newest last.

    It reads every manifest file in the folder (the shared one, then each rank's, by rank) and appends
    to the shared one, or with ``rank`` (under torchrun) to that rank's own. Where two files hold a
    record of the same input and job, the later file's wins: at worst an unchanged input is redone.
    """

    def __init__(self, folder: Path, rank: int | None = None):
        self.folder = Path(folder)
        self.path = self.folder / (MANIFEST if rank is None else RANK_MANIFEST.format(rank=rank))
        self.records = [record for path in manifest_files(self.folder) for record in _records(_read(path))]
        own = _read(self.path)
        self._cut = own != "" and not own.endswith("\n")  # a killed run's half line: start a fresh one
        self._newest = {_key(r["input"], r["job"]): r for r in self.records}

    def outputs(self) -> set[Path]:
        """Every output any record lists, resolved."""
        return {(self.folder / name).resolve() for record in self.records for name in record["outputs"]}

    def last(self, source: Path, job: dict) -> dict | None:
        """The newest record of ``source`` explained for ``job``, if any."""
        return self._newest.get(_key(str(Path(source).resolve()), job))

    def unchanged(self, record: dict, source: Path) -> bool:
        """Whether ``source`` has the size and mtime it had when ``record`` was written."""
        stat = Path(source).stat()
        return record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns

    def paths(self, record: dict) -> list[Path]:
        """A record's outputs as paths under the folder."""
        return [self.folder / name for name in record["outputs"]]

    def add(self, source: Path, job: dict, outputs: Iterable[Path]) -> None:
        """Append the record of ``source`` explained for ``job`` into ``outputs`` (paths under the folder)."""
        stat = Path(source).stat()
        written = [Path(p).relative_to(self.folder).as_posix() for p in outputs]
        record = {"input": str(Path(source).resolve()), "job": job, "size": stat.st_size,
                  "mtime_ns": stat.st_mtime_ns, "outputs": written}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(("\n" if self._cut else "") + json.dumps(record) + "\n")
        self._cut = False
        self.records.append(record)
        self._newest[_key(record["input"], job)] = record


def is_manifest(name: str) -> bool:
    """Whether a file name is a manifest's: the shared one or a rank's."""
    return _MANIFEST_NAME.fullmatch(name) is not None


def manifest_files(folder: Path) -> list[Path]:
    """The manifests in ``folder``: the shared one first, then each rank's, by rank."""
    by_rank: dict[int, Path] = {}
    try:
        for entry in os.scandir(folder):
            match = _MANIFEST_NAME.fullmatch(entry.name)
            if match:
                by_rank[int(match[2] or -1)] = Path(folder) / entry.name
    except OSError:
        pass
    return [by_rank[rank] for rank in sorted(by_rank)]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _key(source: str, job: dict) -> tuple[str, str]:
    return source, json.dumps(job, sort_keys=True)


def _records(text: str) -> Iterable[dict]:
    """The manifest's well-formed records (a line cut short by a killed run is ignored)."""
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("input"), str) and isinstance(record.get("job"), dict) \
                and isinstance(record.get("outputs"), list) and all(_inside(o) for o in record["outputs"]):
            yield record


def _inside(name: object) -> bool:
    """A relative path that stays inside the folder."""
    return isinstance(name, str) and not Path(name).is_absolute() and ".." not in Path(name).parts
