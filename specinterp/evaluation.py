"""Clip-level evaluation: song prediction = mean window log-probability; accuracy, balanced accuracy,
per-class accuracy with clip counts, and a confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from specinterp import windows as win
from specinterp.inference import window_logprobs


def clip_predictions(module: nn.Module, specs: list[np.ndarray], size: int = win.WINDOW_FRAMES,
                     hop: int = win.WINDOW_FRAMES // 2, last: str = "pad") -> np.ndarray:
    """Predicted class per clip from all its windows of ``size`` frames every ``hop`` (``last``: see
    :func:`specinterp.windows.window_starts`)."""
    out = []
    for spec in specs:
        windows = win.split(spec, size=size, hop=hop, last=last)
        out.append(int(window_logprobs(module, windows).mean(axis=0).argmax()))
    return np.array(out, dtype=np.int64)


def scores(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Accuracy, balanced accuracy (mean recall over classes present), per-class recall and counts, confusion."""
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    counts = confusion.sum(axis=1)
    present = counts > 0
    recall = np.where(present, np.diag(confusion) / np.maximum(counts, 1), np.nan)
    return {
        "accuracy": float((labels == predicted).mean()) if len(labels) else float("nan"),
        "balanced_accuracy": float(np.nanmean(recall)) if present.any() else float("nan"),
        "per_class_accuracy": recall,
        "per_class_count": counts,
        "confusion": confusion,
    }


def clip_scores(module: nn.Module, specs: list[np.ndarray], labels: np.ndarray, n_classes: int,
                size: int = win.WINDOW_FRAMES, hop: int = win.WINDOW_FRAMES // 2, last: str = "pad") -> dict[str, Any]:
    return scores(labels, clip_predictions(module, specs, size, hop, last), n_classes)


def evaluate(loaded, dataset, split, part: str = "test") -> dict[str, Any]:
    """Score ``loaded`` on one part of ``split``; refuse when any scored clip was seen in training."""
    from specinterp import features
    from specinterp.interfaces import SpecinterpError

    clips = split.parts[part]
    if not clips:
        raise SpecinterpError(f"split '{split.name}' has no {part} clips in this copy of {dataset.name}")
    seen = set(loaded.meta.get("train_ids", [])) | set(loaded.meta.get("valid_ids", []))
    leaked = sorted(c.id for c in clips if c.id in seen)
    if leaked:
        raise SpecinterpError(
            f"{loaded.path}: {len(leaked)} of the {len(clips)} {part} clips were used to train these weights "
            f"(e.g. {leaked[0]}); evaluate on the split they were trained for")
    specs = features.logmels(clips, config=loaded.frontend)
    labels = np.array([c.label for c in clips])
    front = loaded.frontend
    predicted = clip_predictions(loaded.module, [specs[c.id] for c in clips], front.window_frames, front.window_hop,
                                 front.last_window)
    result = scores(labels, predicted, len(dataset.classes))
    classes = list(dataset.classes)
    return {
        "model": loaded.name, "weights": str(loaded.path), "dataset": dataset.name, "split": split.name,
        "split_digest": split.digest(), "part": part, "clips": len(clips), "missing_from_copy": split.missing,
        "accuracy": result["accuracy"], "balanced_accuracy": result["balanced_accuracy"],
        "per_class": {c: {"accuracy": None if np.isnan(a) else float(a), "clips": int(n)} for c, a, n
                      in zip(classes, result["per_class_accuracy"], result["per_class_count"], strict=True)},
        "classes": classes, "confusion": result["confusion"].tolist(),
        "trained_on": {k: loaded.meta.get(k) for k in ("split", "split_digest", "seed", "epoch", "git_commit")},
    }


def format_report(report: dict[str, Any]) -> str:
    """A readable table of the per-class figures."""
    lines = [(f"{report['model']} on {report['split']}/{report['part']} ({report['clips']} clips): "
              f"accuracy {report['accuracy']:.3f}, balanced {report['balanced_accuracy']:.3f}")]
    for name, row in report["per_class"].items():
        if row["clips"]:
            thin = "  (too few clips for a stable figure)" if row["clips"] < 5 else ""
            lines.append(f"  {name:<10} {row['accuracy']:.3f}  n={row['clips']}{thin}")
    return "\n".join(lines)


def write_report(report: dict[str, Any], stem: Path) -> list[Path]:
    """Confusion matrix as PNG and the report as JSON: ``<stem>.confusion.png`` and ``<stem>.json``."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from specinterp.outputs import atomic_write

    confusion = np.array(report["confusion"])
    classes = report["classes"]
    fig, ax = plt.subplots(figsize=(7, 6), constrained_layout=True)
    ax.imshow(confusion, cmap="Blues")
    for (i, j), n in np.ndenumerate(confusion):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", color="white" if n > confusion.max() / 2 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), [f"{c} (n={confusion[i].sum()})" for i, c in enumerate(classes)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report['model']} {report['split']}/{report['part']}: acc {report['accuracy']:.3f}, "
                 f"balanced {report['balanced_accuracy']:.3f}")
    png = atomic_write(Path(f"{stem}.confusion.png"), lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    doc = atomic_write(Path(f"{stem}.json"), lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2)))
    return [png, doc]
