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
    """The recorded verdicts: ``{"models": {model: {"explainers": {explainer: {...}}, ...}}}``."""
    path = verdicts_path()
    return json.loads(path.read_text()) if path.exists() else {"models": {}}


def verdict(model: str, explainer: str) -> Verdict:
    """The recorded verdict of ``explainer`` on ``model`` (a plugin name), else "not assessed"."""
    entry = recorded()["models"].get(model, {}).get("explainers", {}).get(explainer)
    if entry is None:
        return Verdict(explainer, model, "not assessed", f"{explainer} has not been assessed on {model}")
    return Verdict(explainer, model, entry["status"], entry["text"])


def record(assessment: dict[str, Any], provenance: dict[str, str]) -> dict[str, Any]:
    """The verdicts file's content with one ``assessment.json``'s verdicts recorded for its model.

    ``provenance`` (date, commit, machine) is stored beside the command and clip count.
    """
    document = json.loads(verdicts_path().read_text()) if verdicts_path().exists() else {"models": {}}
    document["models"][assessment["model"]] = {
        "weights": Path(assessment["weights"]).name, "command": assessment["command"], "split": assessment["split"],
        "clips": assessment["clips"], "sanity_clips": assessment["sanity_clips"], **provenance,
        "explainers": {name: v for name, v in assessment["verdicts"].items() if not name.startswith("random")},
    }
    return document
