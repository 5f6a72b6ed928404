"""Record the sanity verdicts of ``specinterp assess`` runs in the package (``plugins/verdicts.json``).

    python scripts/record_verdicts.py runs/assess-camcnn/assessment.json [more assessment.json ...]

Each file's verdicts replace those recorded for its model, with the command, clip counts, date,
commit and machine, so the PNG caption, the HTML report and ``specinterp plugins`` show them.
"""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

from specinterp import assessment_report, verdicts


def provenance() -> dict[str, str]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"date": datetime.date.today().isoformat(), "commit": commit,
            "machine": f"{platform.machine()}, {platform.system()}, torch CPU"}


def main(paths: list[str]) -> None:
    for path in paths:
        assessment = json.loads(Path(path).read_text())
        assessment["verdicts"] = {name: assessment_report.verdict(entry["values"], assessment["model"])
                                  for name, entry in assessment["summary"].items()}  # today's rule on its values
        document = verdicts.record(assessment, provenance())
        verdicts.verdicts_path().write_text(json.dumps(document, indent=1) + "\n")
        print(f"recorded {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
