"""Size of the HTML report per minute of audio, embedded (default) and linked (``--link-audio``).

    python benchmarks/report_size.py [--seconds 180] [--smoke]

The song is ``examples/example.ogg`` looped to the length asked (a 22050 Hz WAV), explained by cam on
camcnn with ``--render html`` in a child process, once per audio mode. Records the page's bytes, MB
per minute (the issue's target: <= 1.5 embedded) and the files beside it. ``--smoke``: a 10 s song,
not recorded.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import record
from startup import looped_song


def page_bytes(song: Path, out: Path, link: bool) -> tuple[int, dict[str, int]]:
    """The HTML page's size and every file written beside it (name -> bytes)."""
    subprocess.run([sys.executable, "-m", "specinterp", "explain", "--explainer", "cam", "--render", "html",
                    "--out", str(out), *(["--link-audio"] if link else []), str(song)], check=True, capture_output=True)
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if not p.name.startswith(".")}
    page = next(size for name, size in files.items() if name.endswith(".html"))
    return page, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--smoke", action="store_true", help="10 s song, not recorded")
    args = parser.parse_args()
    seconds = 10.0 if args.smoke else args.seconds
    modes = {}
    with tempfile.TemporaryDirectory() as folder:
        song = Path(folder) / "song.wav"
        looped_song(song, seconds)
        for mode in ("embed", "link"):
            page, files = page_bytes(song, Path(folder) / mode, mode == "link")
            modes[mode] = {"html_bytes": page, "mb_per_minute": round(page / 1e6 / (seconds / 60), 3), "files": files}
            print(f"{mode:<6} {page / 1e6:6.2f} MB, {modes[mode]['mb_per_minute']:.2f} MB per minute")
    record.append("report_size", {"input": f"examples/example.ogg looped to {seconds:g} s, WAV 22050 Hz",
                                  "explainer": "cam", "model": "camcnn", "modes": modes}, args.smoke)


if __name__ == "__main__":
    main()
