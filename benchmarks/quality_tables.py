"""Markdown tables for docs/quality.md from ``specinterp assess`` outputs.

    python benchmarks/quality_tables.py runs/assess/camcnn-gtzan/assessment.json [...]

Per file: the command, clips, time, and one row per explainer: verdict, the sanity values, the
faithfulness values and (on datasets with truth) the localisation values, each the mean over clips
with its 95 % bootstrap interval.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = [
    ("randomization.top", "randomization ↓"),
    ("class-sensitivity.similarity", "class ↓"),
    ("deletion-insertion.deletion", "deletion AUC ↓"),
    ("deletion-insertion.insertion", "insertion AUC ↑"),
    ("listening.average_drop", "AD % ↓"),
    ("listening.average_increase", "AI % ↑"),
    ("listening.average_gain", "AG % ↑"),
    ("listening.complement_drop", "complement drop ↑"),
    ("localisation.mass", "mass ↑"),
    ("localisation.rank", "rank ↑"),
    ("localisation.pointing", "pointing ↑"),
    ("localisation.distractor_mass", "distractor mass ↓"),
]


def cell(value: dict | None, digits: int) -> str:
    if value is None:
        return ""
    return f"{value['mean']:.{digits}f} ({value['low']:.{digits}f}…{value['high']:.{digits}f})"


def table(document: dict) -> str:
    summary = document["summary"]
    present = [(key, title) for key, title in COLUMNS if any(key in e["values"] for e in summary.values())]
    lines = [(f"`{document['command']}`: {document['clips']} clips ({document['sanity_clips']} for the sanity "
              f"checks), {document['seconds']:.0f} s; cascade {' → '.join(document['cascade'])}."), "",
             "| explainer | verdict | " + " | ".join(t for _, t in present) + " | s/clip |",
             "|---|---|" + "---|" * len(present) + "---|"]
    for name, entry in summary.items():
        verdict = document["verdicts"][name]
        status = "reference" if name.startswith("random") else verdict["status"] + (
            f" ({', '.join(verdict['failed'])})" if verdict.get("failed") else "")
        digits = {"listening.average_drop": 0, "listening.average_increase": 0, "listening.average_gain": 0}
        cells = [cell(entry["values"].get(key), digits.get(key, 2)) for key, _ in present]
        seconds = "" if entry["seconds"] is None else f"{entry['seconds']:.2f}"
        if entry["errors"]:
            status += f"; {len(entry['errors'])} clips failed: {entry['errors'][0].split(': ', 1)[-1]}"
        lines.append(f"| {name} | {status} | " + " | ".join(cells) + f" | {seconds} |")
    return "\n".join(lines)


if __name__ == "__main__":
    for path in sys.argv[1:]:
        document = json.loads(Path(path).read_text())
        print(f"### {document['model']} ({Path(document['weights']).stem}) on {document['split']} {document['part']}\n")
        print(table(document) + "\n")
