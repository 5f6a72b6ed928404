"""What an assessment says: per explainer and value, the mean over clips with a seeded 95 % bootstrap
interval; the sanity verdict; the table as text, CSV and JSON; the curves as PNG."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from specinterp.outputs import atomic_write

BOOTSTRAP_RESAMPLES = 2000
SANITY_LIMIT = 0.5  # rank correlation above which a map is judged not to depend on weights / class
SANITY_VALUES = {"randomization": "randomization.top", "class": "class-sensitivity.similarity"}


def bootstrap_interval(values: np.ndarray, seed: int, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """The 2.5 and 97.5 percentiles of the mean of ``values`` resampled with replacement (seeded)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), float(values.mean())
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def summarize(rows: list[dict[str, Any]], seed: int) -> dict[str, dict[str, Any]]:
    """Per explainer: ``values`` (name -> mean, low, high, n), ``curves`` (name -> mean curve), ``errors``
    and ``seconds`` (mean time per clip, all metrics included)."""
    summary: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = summary.setdefault(row["explainer"],
                                   {"values": {}, "curves": {}, "errors": [], "_raw": {}, "_time": []})
        if "error" in row:
            entry["errors"].append(row["error"])
            continue
        entry["_time"].append(row.get("seconds", 0.0))
        for name, value in row["values"].items():
            entry["_raw"].setdefault(name, []).append(value)
    for entry in summary.values():
        times = entry.pop("_time")
        entry["seconds"] = round(float(np.mean(times)), 3) if times else None
        for name, samples in entry.pop("_raw").items():
            if isinstance(samples[0], list):
                entry["curves"][name] = np.mean(np.array(samples, dtype=float), axis=0).tolist()
            else:
                low, high = bootstrap_interval(np.array(samples), seed)
                entry["values"][name] = {"mean": float(np.mean(samples)), "low": low, "high": high, "n": len(samples)}
    return summary


def verdict(values: Mapping[str, Mapping[str, float]], model: str) -> dict[str, Any]:
    """The sanity verdict of one explainer on one model from its summarized values.

    Fails the randomization check when its map's mean rank correlation with the map of the network
    whose output layer is random exceeds :data:`SANITY_LIMIT`; fails the class check when its maps for
    the top two classes correlate above it. A check whose 95 % interval straddles the limit is listed
    as ``borderline`` (its verdict could flip with other clips). ``status`` is ``passed``, ``failed``
    or ``not assessed`` (neither value measured).
    """
    found = {check: values[key] for check, key in SANITY_VALUES.items() if key in values}
    if not found:
        return {"status": "not assessed", "text": f"not assessed on {model}"}
    failed = [check for check, v in found.items() if v["mean"] > SANITY_LIMIT]
    borderline = [check for check, v in found.items()
                  if v.get("low", v["mean"]) <= SANITY_LIMIT < v.get("high", v["mean"])]

    def figure(check: str) -> str:
        v = found[check]
        interval = f" [{v['low']:.2f}, {v['high']:.2f}]" if "low" in v else ""
        return f"{v['mean']:.2f}{interval}"

    parts = []
    if "randomization" in failed:
        parts.append(f"its map barely changes when the network's output layer is replaced by random weights "
                     f"(rank correlation {figure('randomization')}): read it as a picture of the input, not of "
                     f"the network's reasons")
    if "class" in failed:
        parts.append(f"its maps for the two most probable classes are nearly the same (rank correlation "
                     f"{figure('class')}): it shows where the network is active, not why it chose this class")
    if failed:
        text = f"failed the sanity check on {model}: " + "; ".join(parts)
    else:
        text = f"passed the sanity checks on {model} (" + ", ".join(
            f"{check} {figure(check)}" for check in found) + f"; fails above {SANITY_LIMIT})"
        if borderline:
            text += f", narrowly: the {' and '.join(borderline)} interval reaches past {SANITY_LIMIT}"
    return {"status": "failed" if failed else "passed", "failed": failed, "borderline": borderline,
            **{check: round(v["mean"], 3) for check, v in found.items()}, "text": text}


def value_names(summary: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every table value measured, in first-seen order."""
    return list(dict.fromkeys(name for entry in summary.values() for name in entry["values"]))


def table_text(summary: Mapping[str, Mapping[str, Any]], better: Mapping[str, str]) -> str:
    """The table for the terminal: explainers as rows, values as columns (mean [low, high])."""
    names = value_names(summary)
    header = ["explainer"] + [f"{name} ({'+' if better.get(name) == 'higher' else '-'})" for name in names]
    lines = [header]
    for explainer, entry in summary.items():
        cells = [explainer]
        for name in names:
            v = entry["values"].get(name)
            cells.append("" if v is None else f"{v['mean']:.3g} [{v['low']:.3g}, {v['high']:.3g}]")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)
    return text + "\n(+ higher is better, - lower is better; 95 % bootstrap intervals over clips)"


def csv_text(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per explainer and value: mean, interval and number of clips."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["explainer", "value", "mean", "low", "high", "clips"])
    for explainer, entry in summary.items():
        for name, v in entry["values"].items():
            writer.writerow([explainer, name, f"{v['mean']:.6g}", f"{v['low']:.6g}", f"{v['high']:.6g}", v["n"]])
    return buffer.getvalue()


def plot_curves(summary: Mapping[str, Mapping[str, Any]], depth_names: list[str], path: Path) -> Path | None:
    """Deletion / insertion curves and the randomization cascade, mean over clips, one line per explainer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("deletion-insertion.deletion_curve", "deletion: probability vs share removed"),
              ("deletion-insertion.insertion_curve", "insertion: probability vs share restored"),
              ("randomization.curve", "randomization: rank correlation vs layers randomized")]
    panels = [(key, title) for key, title in panels if any(key in e["curves"] for e in summary.values())]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    colors = plt.get_cmap("tab20")
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        for i, (explainer, entry) in enumerate(summary.items()):
            curve = entry["curves"].get(key)
            if curve is None:
                continue
            reference = explainer.startswith("random")
            style = {"color": "black", "linestyle": "--"} if reference else {"color": colors(i % 20)}
            x = np.arange(1, len(curve) + 1) if key.startswith("randomization") else np.linspace(0, 1, len(curve))
            ax.plot(x, curve, label=explainer, linewidth=1.4, **style)
        ax.set_title(title, fontsize=10)
        if key.startswith("randomization"):
            ax.axhline(SANITY_LIMIT, color="grey", linewidth=0.8, linestyle=":")
            ax.set_xticks(np.arange(1, len(depth_names) + 1), depth_names, rotation=30, ha="right", fontsize=7)
            ax.set_ylim(-1.05, 1.05)
        else:
            ax.set_xlabel("share of cells")
            ax.set_ylim(0, 1)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def write(out: Path, summary: dict[str, dict[str, Any]], rows: list[dict[str, Any]], meta: dict[str, Any],
          depth_names: list[str]) -> list[Path]:
    """``assessment.csv``, ``assessment.json`` (meta, summary, verdicts, per-clip rows), ``curves.png``."""
    out.mkdir(parents=True, exist_ok=True)
    verdicts = {name: verdict(entry["values"], meta["model"]) for name, entry in summary.items()}
    document = {**meta, "summary": summary, "verdicts": verdicts, "rows": rows}
    paths = [atomic_write(out / "assessment.csv", lambda tmp: tmp.write_text(csv_text(summary))),
             atomic_write(out / "assessment.json", lambda tmp: tmp.write_text(json.dumps(document, indent=1)))]
    figure = plot_curves(summary, depth_names, out / "curves.png")
    return paths + ([figure] if figure else [])
