"""Listening faithfulness: is what the user hears what the network used?

The map is applied to the window's audio as the WAV renderer does (a mask on the model's own STFT,
phase kept, :func:`specinterp.frontend.apply_mask`), written as a 16-bit WAV and classified again
through the whole pipeline (decode, front end, windows, model: :func:`specinterp.api.predict`).
With ``p`` the model's probability of the explained class for the window and ``o`` for the
explanation's audio, per clip (averaged over clips, the definitions of Paissan et al. 2024,
"Listenable Maps for Audio Classifiers", ICML, after Chattopadhay et al. 2018):

- ``average_drop`` = ``100 max(0, p - o) / p``: how much is lost by hearing only the explanation (lower is better);
- ``average_increase`` = ``100 [o > p]``: the explanation alone is more convincing (higher is better);
- ``average_gain`` = ``100 max(0, o - p) / (1 - p)`` (higher is better);
- ``complement_drop`` = ``p - o'`` with ``o'`` for the complement's audio (``1 - map``, what the
  network ignored): removing what the map shows should cost the class (higher is better; L-MAC's
  faithfulness on the masked-out part).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from specinterp import hookimpl
from specinterp.interfaces import Metric

if TYPE_CHECKING:  # the registry imports this module: keep it light (torchaudio only when measuring)
    from specinterp.assessment import Case


def heard_probability(case: Case, mask: np.ndarray) -> float:
    """The model's probability of the case's target for the window's audio under ``mask``, as a WAV."""
    import soundfile as sf

    from specinterp import api
    from specinterp.frontend import apply_mask

    config = case.model.frontend
    heard = apply_mask(case.waveform, mask, config)
    with tempfile.TemporaryDirectory(prefix="specinterp-listen-") as folder:
        path = Path(folder) / "explanation.wav"
        sf.write(path, np.clip(heard, -1.0, 1.0), config.sample_rate, subtype="PCM_16")
        return float(api.predict(path, model=case.model).probabilities[case.target])


def listening_scores(p: float, heard: float, complement: float) -> dict[str, float]:
    """Average drop, increase and gain of the explanation's audio, and the complement's drop (one clip)."""
    return {
        "average_drop": 100 * max(0.0, p - heard) / p if p > 0 else 0.0,
        "average_increase": 100.0 * (heard > p),
        "average_gain": 100 * max(0.0, heard - p) / (1 - p) if p < 1 else 0.0,
        "complement_drop": p - complement,
    }


class ListeningFaithfulness(Metric):
    name = "listening"
    description = "the explanation's audio and its complement classified again through the whole pipeline"
    source = "Paissan et al. 2024, Listenable Maps for Audio Classifiers (ICML): AD, AI, AG; complement as mask-out"
    better = {"average_drop": "lower", "average_increase": "higher", "average_gain": "higher",
              "complement_drop": "higher"}

    def measure(self, case: Case) -> dict[str, float | list[float]]:
        p = float(case.scores(case.window)[0])
        heard, complement = (heard_probability(case, mask) for mask in (case.relevance, 1.0 - case.relevance))
        return listening_scores(p, heard, complement)


@hookimpl
def register_metrics(register) -> None:
    register(ListeningFaithfulness())
