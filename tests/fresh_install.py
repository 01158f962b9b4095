"""A fresh virtual environment with the runtime installed as a family's PC would install it:
`pip install .[extras]` from the registry, plus the local wheel folders this machine kind keeps
(/opt/wheels: CPU torch; .ci/setup's wheel cache: the llama-cpp-python it built)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEEL_CACHE = Path(os.environ.get("STILL_WHEEL_CACHE", Path.home() / ".cache" / "still-wheels"))
WHEEL_FOLDERS = [Path("/opt/wheels"), WHEEL_CACHE]


def fresh_runtime(folder: Path, extras: str | None = None) -> tuple[Path, set[str]]:
    """The new environment's python and the distributions installed in it (lowercase names)."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    py = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    links = [a for f in WHEEL_FOLDERS if f.is_dir() for a in ("--find-links", str(f))]
    target = f"{REPO}[{extras}]" if extras else str(REPO)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *links, target], check=True, cwd=folder)
    freeze = [str(py), "-m", "pip", "list", "--format=freeze"]
    listed = subprocess.run(freeze, capture_output=True, text=True, check=True).stdout.lower().split()
    return py, {line.split("==")[0] for line in listed}
