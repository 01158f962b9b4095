"""The Windows runtime stands alone: it imports nothing from pipelines/ and installs from the light
dependency set (pyproject's base dependencies plus the `voice` and `face` extras) without trl, dvc,
demucs or face-alignment; every runtime module imports with exactly its extra installed."""

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


# What each extra provides (import names), on top of the base set; runtime/<extra>/ needs its extra.
BASE = {"torch", "transformers", "safetensors", "numpy", "yaml", "cryptography"}
EXTRAS = {"voice": {"onnxruntime", "soundfile", "soxr", "sounddevice"},
          "face": {"cv2", "onnxruntime", "onnx", "pyvirtualcam"}}  # fmt: skip
RUNTIME_MODULES = sorted((REPO / "runtime").rglob("*.py"))


def extra_of(path: Path) -> str | None:
    parts = path.relative_to(REPO / "runtime").parts
    return parts[0] if len(parts) > 1 and parts[0] in EXTRAS else None


def module_level_imports(path: Path) -> set[str]:
    """Third-party packages `path` imports when it is imported (not inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"runtime", "__future__"}


@pytest.mark.parametrize("path", RUNTIME_MODULES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_runtime_module_imports_no_training_dependency(path):
    assert imported_modules(path) & TRAINING_ONLY == set()


@pytest.mark.parametrize("path", RUNTIME_MODULES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_runtime_module_imports_only_what_its_extra_installs(path):
    extra = extra_of(path)
    allowed = BASE | EXTRAS.get(extra, set())
    assert module_level_imports(path) <= allowed, f"install .[{extra or ''}] does not provide it"


def test_each_extra_in_pyproject_provides_what_its_modules_import():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    dist_of = {"cv2": "opencv-python", "yaml": "pyyaml"}
    for extra, modules in EXTRAS.items():
        declared = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in extras[extra]}
        assert {dist_of.get(m, m) for m in modules} <= declared, extra


@pytest.mark.slow
@pytest.mark.parametrize("extra", [None, *EXTRAS])
def test_runtime_installs_and_imports_with_exactly_its_extra(tmp_path, extra):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    links = ["--find-links", "/opt/wheels"] if Path("/opt/wheels").is_dir() else []
    target = f"{REPO}[{extra}]" if extra else str(REPO)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *links, target], check=True, cwd=tmp_path)
    freeze = [str(py), "-m", "pip", "list", "--format=freeze"]
    installed = subprocess.run(freeze, capture_output=True, text=True, check=True).stdout.lower()
    assert not [
        pkg for pkg in ("trl", "dvc", "demucs", "face-alignment", "peft") if f"\n{pkg}==" in "\n" + installed
    ]
    modules = [
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for p in RUNTIME_MODULES
        if extra_of(p) in (None, extra) and p.name != "__main__.py"
    ]
    probe = (f"import sys, {', '.join(modules)}; "
             "assert not [m for m in sys.modules if m.startswith('pipelines')]; print('ok')")  # fmt: skip
    out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "ok", out.stderr
