"""Where the built-in models' trained weights live inside the package."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"


def shipped_weights(model: str) -> dict[str, Path]:
    """``weights/<model>-<variant>.safetensors`` by variant (the split they were trained on)."""
    return {p.stem.split("-", 1)[1]: p for p in sorted(WEIGHTS_DIR.glob(f"{model}-*.safetensors"))}
