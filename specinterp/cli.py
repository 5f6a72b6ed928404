"""The ``specinterp`` command. Heavy imports (torch) happen inside commands, so ``--help`` is fast."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from specinterp.interfaces import SpecinterpError

if TYPE_CHECKING:
    from specinterp import batch
    from specinterp.many import FileResult

DEFAULT_OUT = "specinterp-out"
MAX_DURATION = 4 * 3600.0  # seconds; --max-duration's default


class Group(click.Group):
    """Prints :class:`SpecinterpError` as one line on stderr and exits 1, Ctrl-C as ``interrupted`` and
    exits 130 (no traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SpecinterpError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("Error: interrupted", err=True)
            sys.exit(130)


@click.group(cls=Group)
@click.version_option(package_name="specinterp")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and the summary (no per-file lines, no progress).")
@click.option("-v", "--verbose", is_flag=True, help="Also say what is about to be done.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: bool) -> None:
    """Make audio classifiers explain themselves: the genre, where the network looked, what it heard.

    \b
    Exit codes: 0 success; 1 an error (unknown plugin, bad weights or option; for explain: some
    inputs failed); 2 explain: every input failed, nothing to explain, or --out unusable (and
    click's usage errors); 130 interrupted (Ctrl-C).
    """
    ctx.obj = {"verbosity": -1 if quiet else 1 if verbose else 0}


def main() -> NoReturn:
    """The ``specinterp`` program: :func:`cli`, then an exit that skips the interpreter's teardown.

    Every command has closed what it wrote by the time it returns (outputs are moved into place, the
    manifest and temporary folders closed; spooled samples live in unlinked temporary files), so after
    flushing stdout and stderr nothing is left for the teardown to do but free memory: about 0.45 s
    with torch loaded, which the user would otherwise wait for.
    """
    try:
        cli()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, OSError):  # e.g. piped into `head`, which has exited
            stream.flush()
    os._exit(code or 0)


def _registry():
    from specinterp.plugins import registry

    return registry()


def _open_dataset(name: str, data: str | None):
    from specinterp.plugins import open_dataset

    return open_dataset(name, data)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", default="camcnn", show_default=True, help="Model plugin name.")
@click.option("--weights", type=click.Path(path_type=Path), help="A .safetensors file (config .json beside it).")
@click.option("--explainer", required=True, help="Explainer plugin name(s), e.g. cam or cam,gradcam (one grid).")
@click.option("--target", help="Genre or tag (name or index) to explain (default: the most probable).")
@click.option("--out", default=DEFAULT_OUT, show_default=True, type=click.Path(path_type=Path),
              help="Output folder (checked before any work; created if absent).")
@click.option("--render", "renderers", default="png,wav,html", show_default=True, help="Renderers, comma-separated.")
@click.option("--complement", is_flag=True,
              help="Also write the complement WAV (what the network ignored); html always writes it.")
@click.option("--link-audio", is_flag=True,
              help="The HTML's players play the WAVs written beside it instead of Ogg Vorbis inside it "
                   "(a smaller page that needs those files).")
@click.option("--hop", type=click.IntRange(1), help="Window hop in frames (default: the model's, e.g. 64 of 128).")
@click.option("--layer", help="Layer to explain (explainers that take one), e.g. conv2.")
@click.option("--filters", help="Filters, numbered from 1, comma-separated, e.g. 1,8,16,32.")
@click.option("--option", "extra", multiple=True, metavar="KEY=VALUE", help="Explainer-specific option (JSON value).")
@click.option("--max-duration", type=click.FloatRange(0, min_open=True), default=MAX_DURATION, show_default=True,
              metavar="SECONDS", help="Refuse (as a failed file) any input longer than this (default: 4 hours).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never an input).")
@click.option("--resume", is_flag=True,
              help="Skip inputs this command already explained into --out (unchanged, all outputs present); "
                   "redo the rest, replacing only files specinterp wrote.")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Processes explaining files side by side, each with its own copy of the model and "
                   "cores/N torch threads (docs/scaling.md).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object per input on stdout as it finishes, then one with the summary.")
@click.pass_context
def explain(ctx, inputs, model, weights, explainer, target, out, renderers, complement, link_audio, hop, layer, filters,
            extra, max_duration, overwrite, resume, workers, as_json) -> None:
    """Predict the genre (or tags) of each FILE and explain it: a PNG, WAVs and an HTML report per file under --out.

    \b
    Folders are searched recursively for audio (hidden files and specinterp's own outputs skipped);
    each file's outputs go to the same sub-folder of --out as the file has under the folder given
    (with several folders given, under a sub-folder named after each; files given by name: --out
    itself), named <stem>.<explainer>..., or <name>.<explainer>... when
    two inputs share a stem there (song.wav and song.ogg give song.wav.cam.png, song.ogg.cam.png).
    An output is never written over an input; an existing file is left alone (the input is skipped
    with a note) unless --overwrite. --out keeps a manifest of what was written
    (.specinterp-manifest.jsonl), which --resume and later folder scans read.

    \b
    Bad files are reported and skipped; the exit code is 0 when none failed, 1 when some failed,
    2 when all failed or nothing was found to explain; 130 when interrupted (rerun with --resume).
    Under torchrun each process explains its share of the files (docs/scaling.md).
    """
    from time import perf_counter

    from tqdm import tqdm

    from specinterp.many import UnusableOut, explain_many

    started, verbosity = perf_counter(), ctx.obj["verbosity"] if ctx.obj else 0
    chosen = tuple(r.strip() for r in renderers.split(",") if r.strip())
    try:
        run = explain_many(inputs, out, model, explainer, weights=weights, target=target, renderers=chosen,
                           complement=complement, audio="link" if link_audio else "embed", hop=hop,
                           options=explainer_options(extra, layer, filters), max_duration=max_duration,
                           overwrite=overwrite, resume=resume, workers=workers, command=command_line())
    except KeyboardInterrupt:
        _stop("interrupted before any file was explained", 130)
    except UnusableOut as exc:
        _stop(str(exc), 2)
    if not run.items:
        for path, why in run.tally.failures if run.main else []:
            click.echo(f"Error: {path}: {why}", err=True)
        sys.exit(run.exit_code())
    if verbosity > 0 and run.main:
        click.echo(f"{len(run.items)} file(s) to explain with {explainer} on {model} into {out}", err=True)
    quiet_bar = as_json or verbosity < 0 or len(run.items) < 2
    try:
        with tqdm(total=len(run.ranks.mine(run.items)), desc="explain", unit="file", disable=quiet_bar,
                  file=sys.stderr) as bar:
            for result in run:
                if as_json:
                    click.echo(json.dumps(result.as_dict()))
                elif verbosity >= 0:
                    print_result(result)
                bar.update()
    except KeyboardInterrupt:
        progress = "the file in progress" if workers == 1 else "the files in progress"
        _stop(f"interrupted with {sum(run.tally.counts.values())} of {len(run.items)} files processed; {progress} "
              "left no output (rerun with --resume to go on)", 130)
    code = run.exit_code()
    if not run.main:
        sys.exit(code)
    if as_json:
        click.echo(json.dumps({"summary": dict(run.tally.counts), "failed": [
            {"input": str(path), "reason": why} for path, why in run.tally.failures],
            "audio_seconds": round(run.tally.audio, 3), "exit_code": code}))
    else:
        report(run.tally)
    if len(run.items) > 1 and run.tally.counts["done"] and verbosity >= 0 and not as_json:
        click.echo(throughput(run.tally, perf_counter() - started), err=True)
    sys.exit(code)


def _stop(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def command_line() -> str:
    """The command as typed, for the reports' provenance."""
    return "specinterp " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def explainer_options(extra: tuple[str, ...], layer: str | None, filters: str | None) -> dict:
    """``--option`` pairs, ``--layer`` and ``--filters`` as one dict of explainer options."""
    options = parse_overrides(extra, "--option")
    if layer:
        options["layer"] = layer
    if filters:
        try:
            options["filters"] = [int(f) for f in filters.split(",") if f.strip()]
        except ValueError:
            raise SpecinterpError(f"--filters expects numbers like 1,8,16,32, got '{filters}'") from None
    return options


def print_result(result: FileResult) -> None:
    """What ``explain`` says of one input as it finishes (failures are listed at the end)."""
    if result.status == "skipped":
        click.echo(f"{result.source}: skipped: {result.note}")
    if result.status != "done":
        return
    click.echo(f"{result.source}: {headline(result.prediction)}")
    if result.prediction.warning:
        click.echo(f"  warning: {result.prediction.warning}")
    if result.summary:
        click.echo(f"  {result.summary}")
    for path in result.written:
        click.echo(f"  wrote {path}")


def report(tally: batch.Tally) -> None:
    """Print the summary (when anything was not simply done) and the failures."""
    counts, failures = tally.counts, tally.failures
    if failures or counts["earlier"] or counts["skipped"]:
        parts = [f"{counts['done']} done"]
        parts += [f"{counts['earlier']} done before (--resume)"] if counts["earlier"] else []
        parts += [f"{counts['skipped']} skipped"] if counts["skipped"] else []
        click.echo(", ".join(parts + [f"{len(failures)} failed"]) + (":" if failures else ""), err=True)
        for path, reason in failures:
            click.echo(f"  {reason}" if str(path) in reason else f"  {path}: {reason}", err=True)


def throughput(tally: batch.Tally, seconds: float) -> str:
    """``explained 40 files (0:20:00 of audio) in 31.2 s: 1.28 files/s, 38.5x real time``."""
    from specinterp.audio import clock

    done, seconds = tally.counts["done"], max(seconds, 1e-9)
    return (f"explained {done} file{'' if done == 1 else 's'} ({clock(tally.audio)} of audio) in {seconds:.1f} s: "
            f"{done / seconds:.2f} files/s, {tally.audio / seconds:.1f}x real time")


@cli.command()
@click.option("--model", required=True, help="Model plugin name.")
@click.option("--dataset", default="gtzan", show_default=True, help="Dataset plugin name.")
@click.option("--data", type=click.Path(path_type=Path), help="Dataset folder (default: $SPECINTERP_GTZAN).")
@click.option("--split", "split_name", default="random", show_default=True, help="random or filtered.")
@click.option("--seed", default=0, show_default=True, help="Seed for the split and training.")
@click.option("--epochs", default=40, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=3e-3, show_default=True)
@click.option("--crops-per-clip", default=2, show_default=True, help="Random windows per training clip per epoch.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Model config override (JSON value), e.g. --set templates=freq --set filter_loss_weight=0.")
@click.option("--fit", type=click.Choice(["train", "train+valid"]), default="train", show_default=True,
              help="train: keep the best validation epoch; train+valid: refit on both, keep the last epoch.")
@click.option("--recipe", "recipe", multiple=True, metavar="KEY=VALUE",
              help="Training recipe override, e.g. --recipe mixup=0.2 --recipe balanced=false "
                   "--recipe schedule=constant "
                   "(fields: label_smoothing, freq_mask, time_mask, balanced, mixup, schedule, weight_decay).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda.")
@click.option("--resume", is_flag=True, help="Continue from OUT/<model>-<split>.last.safetensors if present.")
@click.option("--time-limit", type=float, help="Minutes; stop after the epoch that crosses it (resumable).")
@click.option("--out", default="runs", show_default=True, type=click.Path(path_type=Path))
def train(model, dataset, data, split_name, seed, epochs, batch_size, lr, crops_per_clip, overrides, fit, recipe,
          device, resume, time_limit, out) -> None:
    """Train a model on a dataset split; keep the best validation epoch (or, with --fit train+valid, the last).

    Runs unchanged under ``torchrun --nproc_per_node N`` (DistributedDataParallel; rank 0 writes).
    """
    from specinterp import training

    plugin = _registry().get("models", model)
    ds = _open_dataset(dataset, data)
    split = ds.split(split_name, seed)
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main:
        click.echo(split.describe())
        split.write(out / f"split-{split.name}-seed{seed}")
    config = training.recipe(parse_overrides(recipe, "--recipe"), epochs=epochs, batch_size=batch_size, lr=lr,
                             crops_per_clip=crops_per_clip, fit=fit, seed=seed)
    best, _ = training.train(plugin, ds, split, out, config, parse_overrides(overrides), device=device, resume=resume,
                             time_limit=None if time_limit is None else 60 * time_limit,
                             log=lambda line: click.echo(line))
    if is_main:
        kept = "last epoch" if config.fit == "train+valid" else "best validation epoch"
        click.echo(f"weights ({kept}): {best} (config {best.with_suffix('.json')})")


def headline(prediction) -> str:
    """``rock  (top-3: rock 0.84, ...)``; for tagging models ``tags: rock 0.62, ...`` (top 5)."""
    if prediction.multilabel:
        return "tags: " + ", ".join(f"{t} {p:.2f}" for t, p in prediction.top(5))
    top = ", ".join(f"{g} {p:.2f}" for g, p in prediction.top(3))
    return f"{prediction.label}  (top-3: {top})"


def parse_overrides(items: tuple[str, ...], flag: str = "--set") -> dict:
    """``key=value`` pairs; values are JSON where they parse, strings otherwise."""
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpecinterpError(f"{flag} expects KEY=VALUE, got '{item}'")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


@cli.command()
@click.option("--model", required=True, help="Model plugin name.")
@click.option("--weights", type=click.Path(path_type=Path), help="Weights (default: the shipped ones for --split).")
@click.option("--dataset", default="gtzan", show_default=True)
@click.option("--data", type=click.Path(path_type=Path), help="Dataset folder (default: $SPECINTERP_GTZAN).")
@click.option("--split", "split_name", default="random", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Seed of the random split.")
@click.option("--part", default="test", show_default=True, help="Which part of the split to score.")
@click.option("--out", default=DEFAULT_OUT, show_default=True, type=click.Path(path_type=Path),
              help="Folder for the confusion matrix PNG and JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def evaluate(model, weights, dataset, data, split_name, seed, part, out, as_json) -> None:
    """Clip-level accuracy of a model on a split, with per-genre figures and a confusion matrix."""
    from specinterp import evaluation
    from specinterp.weights import resolve

    ds = _open_dataset(dataset, data)
    split = ds.split(split_name, seed)
    loaded = resolve(model, weights, None if weights else split_name)
    report = evaluation.evaluate(loaded, ds, split, part)
    paths = evaluation.write_report(report, out / f"{model}-{split_name}-{part}")
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(split.describe())
    click.echo(evaluation.format_report(report))
    for path in paths:
        click.echo(f"wrote {path}")


@cli.command()
@click.option("--dataset", default="gtzan", show_default=True)
@click.option("--data", type=click.Path(path_type=Path), help="Dataset folder (default: $SPECINTERP_GTZAN).")
@click.option("--split", "split_name", default="random", show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default=DEFAULT_OUT, show_default=True, type=click.Path(path_type=Path))
def split(dataset, data, split_name, seed, out) -> None:
    """Write a clip-level split's file lists and print its hash."""
    result = _open_dataset(dataset, data).split(split_name, seed)
    click.echo(result.describe())
    for path in result.write(out / f"split-{result.name}-seed{seed}"):
        click.echo(f"wrote {path}")


@cli.command()
@click.option("--model", default="camcnn", show_default=True, help="Model plugin name.")
@click.option("--weights", type=click.Path(path_type=Path), help="Weights (default: the shipped ones for --split).")
@click.option("--explainer", required=True, help="Explainer name(s), comma-separated, or 'all'.")
@click.option("--data", required=True, help="Dataset folder, or 'synthetic' (generated under --out).")
@click.option("--dataset", help="Dataset plugin (default: gtzan; synthetic for --data synthetic).")
@click.option("--split", "split_name", help="Split (default: the dataset's first, e.g. random).")
@click.option("--part", default="test", show_default=True, help="Which part of the split to assess on.")
@click.option("--limit", type=click.IntRange(1), help="At most this many clips, spread evenly over the part.")
@click.option("--metrics", "metric_names", help="Metric name(s), comma-separated (default: every registered one).")
@click.option("--sanity-clips", default=10, show_default=True, type=click.IntRange(0),
              help="Randomization and class checks on N of the clips, spread evenly (0: every clip).")
@click.option("--depths", default=3, show_default=True, type=click.IntRange(0),
              help="Points of the randomization cascade, output layer to all (0: every weight layer).")
@click.option("--layer", help="Layer for explainers that take one.")
@click.option("--option", "extra", multiple=True, metavar="KEY=VALUE", help="Explainer option (JSON value).")
@click.option("--seed", default=0, show_default=True,
              help="Seed of the split, the random maps and the randomized layers.")
@click.option("--reference/--no-reference", default=True, show_default=True,
              help="Add a row for a random map: the chance level of every metric.")
@click.option("--out", default="assessment", show_default=True, type=click.Path(path_type=Path),
              help="Folder for the table (CSV, JSON), the curves (PNG) and the resumable cache.")
def assess(model, weights, explainer, data, dataset, split_name, part, limit, metric_names, sanity_clips, depths,
           layer, extra, seed, reference, out) -> None:
    """How far each explainer can be trusted on a model: sanity checks, faithfulness, ground truth.

    Explains one window (the centre) of each clip of the split's part with each explainer and scores
    the map with every metric; prints the table and writes it with the curves. Interrupted runs
    resume from OUT/cache.jsonl.
    """
    from tqdm import tqdm

    from specinterp import assessment_report
    from specinterp.assessment_run import assess as assess_explainers

    with contextlib.ExitStack() as bars:
        result = assess_explainers(
            model, explainer, data, out=out, weights=weights, dataset=dataset, split=split_name, part=part,
            limit=limit, metrics=metric_names, sanity_clips=sanity_clips, depths=depths,
            options=explainer_options(extra, layer, None), seed=seed, reference=reference,
            progress=lambda total: bars.enter_context(tqdm(total=total, unit="map", disable=None)).update,
            command=command_line(), log=lambda line: click.echo(line, err=True))
    click.echo(assessment_report.table_text(result.summary, result.meta["better"]))
    for name, entry in result.summary.items():
        if entry["errors"]:
            click.echo(f"{name}: {len(entry['errors'])} clip(s) failed, e.g. {entry['errors'][0]}", err=True)
    click.echo(f"{result.meta['clips']} clips in {result.meta['seconds']:.0f} s", err=True)
    for path in result.written:
        click.echo(f"wrote {path}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json: bool) -> None:
    """List every plugin: name, distribution, version, what it provides with each one's description, and
    any error; per explainer, its sanity verdict on each model with recorded verdicts (else "not assessed")."""
    from specinterp.plugins import format_listing, listing
    from specinterp.verdicts import recorded

    entries = listing(_registry(), recorded()["models"])
    click.echo(json.dumps(entries, indent=2) if as_json else format_listing(entries))
