"""``specinterp.assess``: how far each explainer can be trusted on a model (the library under ``specinterp assess``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from specinterp.interfaces import SpecinterpError
from specinterp.plugins import open_dataset, registry

SANITY_METRICS = ("randomization", "class-sensitivity")  # the costly ones, run on ``sanity_clips`` clips


@dataclass
class Assessment:
    """What :func:`assess` measured: the table per explainer and value (``summary``), the rows per clip,
    the run's description (``meta``), explainers skipped with the reason, and the files written."""

    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    meta: dict[str, Any]
    skipped: dict[str, str]
    written: list[Path]


def shipped_variant(model: str, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` (the dataset's, the split's) the model ships weights for, else None (its default)."""
    shipped = registry().get("models", model).weights()
    return next((name for name in names if name in shipped), None)


def assess(model: str = "camcnn", explainers: str = "all", data: str | Path = "synthetic", *,
           out: str | Path = "assessment", weights: str | Path | None = None, dataset: str | None = None,
           split: str | None = None, part: str = "test", limit: int | None = None, metrics: str | None = None,
           sanity_clips: int = 10, depths: int = 3, options: dict[str, Any] | None = None, seed: int = 0,
           reference: bool = True, command: str = "", progress: Callable[[int], Callable[[int], None]] | None = None,
           log: Callable[[str], None] = lambda line: None) -> Assessment:
    """Explain one window (the centre) of each clip of a split's part with each explainer, score every
    map with every metric, and write ``assessment.csv``, ``assessment.json`` and ``curves.png`` to ``out``
    (``out/cache.jsonl`` lets an interrupted run resume).

    Parameters
    ----------
    model, weights
        A model plugin and its weights (default: the shipped ones for the dataset or split).
    explainers : str
        Names, comma-separated, or ``"all"``.
    data, dataset, split, part, limit
        The dataset folder (or ``"synthetic"``: generated under ``out``), its plugin (default gtzan, or
        synthetic), the split (default: the dataset's first), its part, and at most ``limit`` clips
        spread evenly over it (every class, not the first ones).
    metrics : str or None
        Metric names, comma-separated (default: every registered one).
    sanity_clips, depths
        Clips for the randomization and class checks; points of the randomization cascade.
    options, seed, reference
        Explainer options; the seed of the split, random maps and randomized layers; whether to add the
        random-map reference row.
    command : str
        The command line, recorded in the report (the CLI passes its own).
    progress, log
        ``progress(total)`` returning a callback called with 1 for each finished map (e.g. a tqdm bar's
        ``update``); ``log`` gets one line per message.
    """
    import torch

    from specinterp import assessment_report
    from specinterp.assessment import Job, cascade_points, explainer_jobs, run, spread
    from specinterp.weights import resolve

    reg, out = registry(), Path(out)
    synthetic = str(data) == "synthetic"
    ds = open_dataset(dataset or ("synthetic" if synthetic else "gtzan"), out / "synthetic-data" if synthetic else data)
    chosen_split = ds.split(split or ds.split_names()[0], seed)
    if part not in chosen_split.parts:
        parts = ", ".join(chosen_split.parts)
        raise SpecinterpError(f"split {chosen_split.name} has no part '{part}' (parts: {parts})")
    clips = [chosen_split.parts[part][i] for i in spread(len(chosen_split.parts[part]), limit)]
    if not clips:
        raise SpecinterpError(f"split {chosen_split.name} has no clips in its {part} part")
    loaded = resolve(model, weights, None if weights else shipped_variant(model, (ds.name, chosen_split.name)))
    names = sorted(reg.explainers) if explainers == "all" else [n.strip() for n in explainers.split(",") if n.strip()]
    chosen, skipped = explainer_jobs(names, loaded, reg, dict(options or {}), reference)
    measures = ([reg.get("metrics", n.strip()) for n in metrics.split(",")] if metrics
                else list(reg.metrics.values()))
    limits = {m.name: sanity_clips for m in measures if m.name in SANITY_METRICS and sanity_clips}
    job = Job(loaded, chosen, clips, ds, measures, seed, out / "cache.jsonl", depths or None, limits)
    out.mkdir(parents=True, exist_ok=True)
    log(f"{loaded.name} ({loaded.path.name if loaded.path else 'built'}) on {chosen_split.describe()}; "
        f"{len(clips)} {part} clips x {len(chosen)} explainers")
    for name, why in skipped.items():
        log(f"skipped {name}: {why}")
    started = perf_counter()
    rows = run(job, progress(len(clips) * len(chosen)) if progress else lambda n: None)
    seconds = perf_counter() - started
    summary = assessment_report.summarize(rows, seed)
    blank = torch.zeros(1, 1, loaded.frontend.n_mels, loaded.frontend.window_frames)
    depth_names = cascade_points(loaded.module, blank, job.depths)
    better = {f"{m.name}.{k}": v for m in measures for k, v in m.better.items()}
    meta = {"command": command, "model": loaded.name,
            "weights": str(loaded.path or ""), "split": chosen_split.name, "split_digest": chosen_split.digest(),
            "part": part, "clips": len(clips), "seed": seed, "seconds": round(seconds, 1),
            "sanity_clips": sanity_clips, "cascade": depth_names, "better": better, "skipped": skipped,
            "metrics": {m.name: {"description": m.description, "source": m.source} for m in measures}}
    written = assessment_report.write(out, summary, rows, meta, depth_names)
    return Assessment(summary, rows, meta, skipped, written)
