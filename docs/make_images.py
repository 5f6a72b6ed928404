"""Redraw docs/images: every explainer on the bundled example with the shipped CAMCNN, and the HTML
report of the lime-music run as a headless Chromium screenshot.

    python docs/make_images.py [--explainers cam gradcam ...]

Only the CC0 example is drawn: GTZAN and pictures made from it are not redistributable.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from specinterp.api import explain, render
from specinterp.plugins import registry

DOCS = Path(__file__).resolve().parent
EXAMPLE = DOCS.parent / "examples" / "example.ogg"
WIDTH = 900
REPORT_SIZE = (1300, 1900)  # browser window for the report screenshot
REPORT_WIDTH = 780


def scaled(source: Path, target: Path, width: int) -> None:
    """``source`` resized to ``width`` pixels wide, saved as ``target``."""
    image = Image.open(source)
    image.resize((width, round(image.height * width / image.width)), Image.LANCZOS).save(target, optimize=True)


def screenshot(page: Path, target: Path) -> None:
    """A headless Chromium screenshot of ``page``, scaled to ``REPORT_WIDTH``."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no Chromium on PATH: the report screenshot needs one")
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "shot.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--hide-scrollbars", f"--screenshot={shot}",
                        f"--window-size={REPORT_SIZE[0]},{REPORT_SIZE[1]}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
        scaled(shot, target, REPORT_WIDTH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--explainers", nargs="+", default=sorted(registry().explainers))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name in args.explainers:
            explanation = explain(EXAMPLE, "camcnn", name)
            written = render(explanation, out, ("png", "html") if name == "lime-music" else ("png",))
            print(f"{name}: {explanation.prediction.genre}; {explanation.summary}".rstrip("; "))
            for path in written:
                if path.suffix == ".png":
                    scaled(path, DOCS / "images" / path.name, WIDTH)
                elif path.suffix == ".html":
                    screenshot(path, DOCS / "images" / "report.png")


if __name__ == "__main__":
    main()
