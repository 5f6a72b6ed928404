"""Many files at once: :func:`explain_many`, the library under ``specinterp explain``.

The model, explainers and renderers are resolved once; each input is explained, rendered into a
staging folder and placed under ``out`` by the rules of :mod:`specinterp.batch` (never over an input,
an existing file is left alone unless ``overwrite``), and one :class:`FileResult` per input comes
back, in input order, as it finishes. After the iteration :attr:`Run.tally` holds the counts and
failures and :meth:`Run.exit_code` the command's exit code. Under ``torchrun`` each process explains
its share of the files and the tally is the whole job's (:class:`specinterp.parallel.Ranks`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specinterp import batch, parallel
from specinterp.interfaces import SpecinterpError
from specinterp.outputs import prepare_folder

if TYPE_CHECKING:
    from specinterp.interfaces import Prediction

MAX_DURATION = 4 * 3600.0  # seconds: longer inputs fail (as one file) unless asked otherwise


class UnusableOut(SpecinterpError):
    """The output folder is a file, under a file, or cannot be created or written in."""


@dataclass
class FileResult:
    """What happened to one input.

    ``status``: ``"done"`` (explained; ``written`` lists its files), ``"earlier"`` (``resume`` found it
    explained by an earlier run), ``"skipped"`` (its outputs exist; ``note`` says which) or
    ``"failed"`` (``note`` is the one-line reason).
    """

    source: Path
    status: str
    note: str = ""
    written: list[Path] = field(default_factory=list)
    prediction: Prediction | None = None
    summary: str = ""  # the explainer's answer in words, or ''
    seconds: float = 0.0  # the input's duration, when explained

    def as_dict(self) -> dict[str, Any]:
        """Plain values for ``--json``: the prediction as its top class, probability and warning."""
        found: dict[str, Any] = {"input": str(self.source), "status": self.status, "note": self.note,
                                 "written": [str(p) for p in self.written], "seconds": round(self.seconds, 3)}
        if self.prediction is not None:
            found |= {"prediction": self.prediction.label, "probability": float(self.prediction.probabilities.max()),
                      "warning": self.prediction.warning, "summary": self.summary}
        return found


class Run:
    """One :func:`explain_many` call: iterate for the results; then ``tally``, ``total`` and :meth:`exit_code`."""

    def __init__(self, inputs: Sequence[str | Path], out: Path, request: batch.Request, overwrite: bool,
                 resume: bool, workers: int) -> None:
        self.out, self.workers = Path(out), workers
        try:
            self.created = prepare_folder(self.out)
        except SpecinterpError as exc:
            raise UnusableOut(str(exc)) from None
        self.ranks = parallel.Ranks()
        try:
            scanned = batch.scan([Path(p) for p in inputs], self.out) if self.ranks.main else None
            self.items, failures = self.ranks.share(scanned)
            self.total = len(self.items) + len(failures)
            self.tally = batch.Tally(failures=failures if self.ranks.main else [])  # counted once, by rank 0
            placer = batch.Placer(self.out, self.items, overwrite, resume, self.ranks.manifest_rank)
            self.explaining = Explaining(placer, batch.Producer(request), resume or overwrite) if self.items else None
        except BaseException:
            self.close()
            raise
        if not self.items:  # nothing to do: leave no empty folder behind
            self.close()

    def __iter__(self) -> Iterator[FileResult]:
        """This process's inputs, in order, each as it finishes; at the end the ranks' tallies are combined."""
        try:
            if self.explaining is not None:
                for result in self.explaining.run_all(self.ranks.mine(self.items), self.out, self.workers):
                    self.tally.add(result.source, result.status, result.note if result.status == "failed" else "",
                                   result.seconds)
                    yield result
            self.tally = self.ranks.combine(self.tally, self.items)
        finally:
            self.close()

    @property
    def main(self) -> bool:
        """Whether this process reports for the job (always, without torchrun)."""
        return self.ranks.main

    def exit_code(self) -> int:
        """0 when no input failed, 1 when some did, 2 when all did or none was found."""
        failed = len(self.tally.failures)
        return 2 if not self.items else 0 if not failed else 2 if failed == self.total else 1

    def close(self) -> None:
        """Leave the torchrun group; remove ``out`` when this run created it and left it empty."""
        self.ranks.close()
        if self.created and self.out.is_dir() and not any(self.out.iterdir()):
            self.out.rmdir()


def explain_many(inputs: Sequence[str | Path], out: str | Path = "specinterp-out", model: str = "camcnn",
                 explainer: str = "cam", *, weights: str | Path | None = None, target: str | None = None,
                 renderers: Sequence[str] = ("png", "wav", "html"), complement: bool = False, audio: str = "embed",
                 hop: int | None = None, options: dict[str, Any] | None = None, max_duration: float = MAX_DURATION,
                 overwrite: bool = False, resume: bool = False, workers: int = 1, command: str = "") -> Run:
    """Explain many files (or folders of them) into ``out``, resolving the plugins and model once.

    Parameters
    ----------
    inputs : sequence of paths
        Audio files and folders (searched recursively; hidden files and specinterp's outputs skipped).
    out : path, default "specinterp-out"
        The output folder (checked before any work, created if absent).
    model, explainer, weights, target, hop, options, max_duration
        As for :func:`specinterp.explain` (``explainer`` may name several: ``"cam,gradcam"``).
    renderers, complement, audio
        Renderer names, the complement WAV, and the HTML's audio (``"embed"`` or ``"link"``).
    overwrite, resume
        Replace existing outputs; skip inputs an earlier run explained into ``out``.
    workers : int, default 1
        Processes explaining side by side (each loads the model once).
    command : str
        The command line recorded in each report.

    Returns
    -------
    Run
        Iterate it for one :class:`FileResult` per input, in input order; then read ``run.tally``
        (counts per status, failures) and ``run.exit_code()``. Setup errors (an unknown plugin, bad
        weights, an unusable ``out``) raise :class:`~specinterp.interfaces.SpecinterpError` at once.
    """
    request = batch.Request(model, Path(weights) if weights else None, explainer, target, tuple(renderers), complement,
                            audio, hop, dict(options or {}), max_duration, command)
    return Run(inputs, Path(out), request, overwrite, resume, workers)


@dataclass
class Explaining:
    """Decides, explains (here or in worker processes) and places each input of a run."""

    placer: batch.Placer
    producer: batch.Producer
    redo: bool  # resume or overwrite: earlier outputs of this job do not make a file skip

    @property
    def job(self) -> dict:
        return self.producer.job

    def run_all(self, items: list[batch.Item], out: Path, workers: int = 1) -> Iterator[FileResult]:
        """Each item's result, in input order; with ``workers`` > 1 and several items, explained in that
        many worker processes (they end before the staging folder is removed)."""
        from contextlib import closing

        with batch.Staging(out) as staging, \
                closing(self._pooled(items, staging, workers) if workers > 1 and len(items) > 1 else
                        (self.run(item, staging) for item in items)) as results:
            yield from results

    def run(self, item: batch.Item, staging: batch.Staging) -> FileResult:
        """One item in this process."""
        decided = self.decide(item)
        if decided:
            return FileResult(item.source, *decided)
        with staging.slot() as slot:
            return self.finish(item, self.producer.attempt(item, slot), slot)

    def _pooled(self, items: list[batch.Item], staging: batch.Staging, workers: int) -> Iterator[FileResult]:
        """The items explained by ``workers`` processes, placed here, in input order."""
        with parallel.Pool(self.producer.request, workers) as pool:
            def start(item: batch.Item) -> parallel.Task:
                return pool.submit(item, staging.reserve())

            for item, value in parallel.ordered(items, self.decide, start, pool.ahead):
                if not isinstance(value, parallel.Task):
                    yield FileResult(item.source, *value)
                    continue
                try:
                    yield self.finish(item, value.result(), value.slot)
                finally:
                    batch.release(value.slot)

    def decide(self, item: batch.Item) -> tuple[str, str] | None:
        """Before any work: ``("earlier", "")`` when resume finds the item done, ``("skipped", note)`` when
        outputs of this job exist; None when it is to be explained."""
        if self.placer.resume and self.placer.finished(item, self.job):
            return "earlier", ""
        left = [] if self.redo else self.placer.earlier(item, self.job)
        if left:
            return "skipped", f"already explained into {left[0]} (--resume skips it quietly, --overwrite redoes it)"
        return None

    def finish(self, item: batch.Item, result: batch.Produced | str, slot: Path) -> FileResult:
        """Place what was produced for ``item``, or say why it failed."""
        if isinstance(result, str):
            return FileResult(item.source, "failed", result)
        try:
            written = self.placer.place(item, result.files, slot, self.job)
        except batch.Skipped as note:
            return FileResult(item.source, "skipped", str(note))
        except (Exception, SystemExit) as exc:
            return FileResult(item.source, "failed", batch.reason(exc, {}))
        return FileResult(item.source, "done", "", written, result.prediction, result.summary, result.seconds)
