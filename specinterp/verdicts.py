"""Which explainer passed the sanity checks on which shipped model, shown beside every explanation.

The verdicts are measured, not declared: ``specinterp assess`` writes them into its
``assessment.json``, and ``scripts/record_verdicts.py`` copies them into the package's
``specinterp_plugins/verdicts.json`` (committed with the command, date and commit that made them).
An explainer or model without a recorded verdict, a third party's for instance, is "not assessed".
Reading them needs no torch (``specinterp plugins`` shows them).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("passed", "failed", "not assessed")


@dataclass(frozen=True)
class Verdict:
    """One explainer's sanity verdict on one model: ``status`` (one of :data:`STATUSES`) and a sentence."""

    explainer: str
    model: str
    status: str
    text: str

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def verdicts_path() -> Path:
    """The installed package's verdicts file (beside the built-in plugins)."""
    import specinterp_plugins

    return Path(specinterp_plugins.__file__).parent / "verdicts.json"


@functools.lru_cache(maxsize=1)
def recorded() -> dict[str, Any]:
    """The recorded verdicts: ``{"models": {weights stem: {"model": name, "explainers": {explainer: {...}}, ...}}}``."""
    path = verdicts_path()
    return json.loads(path.read_text()) if path.exists() else {"models": {}}


def verdict(model: str, explainer: str, weights: str | Path | None = None) -> Verdict:
    """The recorded verdict of ``explainer`` on ``model`` (a plugin name), else "not assessed".

    With ``weights`` (the file explained with), only a verdict measured on those weights counts;
    without, the first recorded for the model (its shipped default, as recorded first).
    """
    entries = recorded()["models"]
    stem = Path(weights).stem if weights else None
    candidates = [entry for key, entry in entries.items()
                  if entry.get("model", key) == model and (stem is None or key == stem)]
    entry = candidates[0]["explainers"].get(explainer) if candidates else None
    if entry is None:
        measured = stem and any(e.get("model") == model for e in entries.values())
        which = f" with these weights ({stem})" if measured else ""
        return Verdict(explainer, model, "not assessed", f"{explainer} has not been assessed on {model}{which}")
    return Verdict(explainer, model, entry["status"], entry["text"])


def record(assessment: dict[str, Any], provenance: dict[str, str]) -> dict[str, Any]:
    """The verdicts file's content with one ``assessment.json``'s verdicts recorded for its weights.

    Keyed by the weights file's stem (``camcnn-random``); ``provenance`` (date, commit, machine) is
    stored beside the command and clip counts.
    """
    document = json.loads(verdicts_path().read_text()) if verdicts_path().exists() else {"models": {}}
    key = Path(assessment["weights"]).stem or assessment["model"]
    document["models"][key] = {
        "model": assessment["model"], "command": assessment["command"], "split": assessment["split"],
        "clips": assessment["clips"], "sanity_clips": assessment["sanity_clips"], **provenance,
        "explainers": {name: v for name, v in assessment["verdicts"].items() if not name.startswith("random")},
    }
    return document
