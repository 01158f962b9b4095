"""The Windows runtime stands alone: it imports nothing from pipelines/ and installs from the light
dependency set (pyproject's base dependencies plus the `voice` extra) without trl, dvc, demucs or
face-alignment."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TRAINING_ONLY = {
    *("pipelines", "trl", "peft", "dvc", "hydra", "omegaconf", "datasets", "pandas", "presidio_analyzer"),
    *("demucs", "face_alignment", "librosa", "accelerate"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "path", sorted((REPO / "runtime").rglob("*.py")), ids=lambda p: p.relative_to(REPO).as_posix()
)
def test_runtime_module_imports_no_training_dependency(path):
    assert imported_modules(path) & TRAINING_ONLY == set()


@pytest.mark.slow
def test_runtime_installs_and_runs_from_the_light_dependency_set(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    links = ["--find-links", "/opt/wheels"] if Path("/opt/wheels").is_dir() else []
    install = [str(py), "-m", "pip", "install", "-q", *links, f"{REPO}[voice]"]
    subprocess.run(install, check=True, cwd=tmp_path)
    freeze = [str(py), "-m", "pip", "list", "--format=freeze"]
    installed = subprocess.run(freeze, capture_output=True, text=True, check=True).stdout.lower()
    assert not [
        pkg for pkg in ("trl", "dvc", "demucs", "face-alignment", "peft") if f"\n{pkg}==" in "\n" + installed
    ]
    modules = ["chat", "generator", "doctor", "bundle", "policy", "memory", "transports.console",
               "transports.replay", "transports.wechat", "voice.convert", "voice.cli",
               "voice.live"]  # fmt: skip
    probe = (f"import sys, {', '.join('runtime.' + m for m in modules)}; "
             "assert not [m for m in sys.modules if m.startswith('pipelines')]; print('ok')")  # fmt: skip
    out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "ok", out.stderr
