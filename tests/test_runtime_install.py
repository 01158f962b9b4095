"""The Windows runtime stands alone: it imports nothing from pipelines/ and installs from the light
dependency set (pyproject's base dependencies plus the `voice`, `face`, `llama` or `torch` extras)
without trl, dvc, demucs or face-alignment, and without torch unless the `torch` extra is asked for;
every runtime module imports with exactly its extras installed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fresh_install import REPO, fresh_runtime

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


# What each extra provides (import names), on top of the base set (which has no torch: a bundle with a
# quantized chat model runs on `still[llama]`); runtime/<extra>/ needs its extra.
BASE = {"transformers", "jinja2", "safetensors", "numpy", "yaml", "cryptography"}
EXTRAS = {"voice": {"onnxruntime", "soundfile", "soxr", "sounddevice"},
          "face": {"cv2", "onnxruntime", "onnx", "pyvirtualcam"},
          "torch": {"torch"}, "llama": {"llama_cpp"}}  # fmt: skip
# The voice's optional torch back-end (`voice-convert --backend torch`, `--pitch rmvpe`): these modules
# import torch as they load, so they need the torch extra beside the voice one.
NEEDS_TORCH = {REPO / "runtime/voice/rmvpe.py", REPO / "runtime/voice/synth.py"}
RUNTIME_MODULES = sorted((REPO / "runtime").rglob("*.py"))


def extra_of(path: Path) -> str | None:
    parts = path.relative_to(REPO / "runtime").parts
    return parts[0] if len(parts) > 1 and parts[0] in EXTRAS else None


def extras_of(path: Path) -> set[str]:
    return {e for e in (extra_of(path), "torch" if path in NEEDS_TORCH else None) if e}


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
    extras = extras_of(path)
    allowed = BASE.union(*(EXTRAS[e] for e in extras))
    assert module_level_imports(path) <= allowed, f"install .[{','.join(sorted(extras))}] does not provide it"


def test_each_extra_in_pyproject_provides_what_its_modules_import():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    base = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    dist_of = {"cv2": "opencv-python", "yaml": "pyyaml", "llama_cpp": "llama-cpp-python"}
    for extra, modules in [(None, BASE), *EXTRAS.items()]:
        declared = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in extras.get(extra, base)}
        assert {dist_of.get(m, m) for m in modules} <= declared, extra


@pytest.mark.slow
@pytest.mark.parametrize("extra", [None, *EXTRAS])
def test_runtime_installs_and_imports_with_exactly_its_extra(tmp_path, extra):
    py, installed = fresh_runtime(tmp_path / "venv", extra)
    assert not installed & {"trl", "dvc", "demucs", "face-alignment", "peft"}
    assert ("torch" in installed) == (extra == "torch")  # only the transformers engine brings torch
    modules = [
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for p in RUNTIME_MODULES
        if extras_of(p) <= {extra} and p.name != "__main__.py"
    ]
    probe = (f"import sys, {', '.join(modules)}; "
             "assert not [m for m in sys.modules if m.startswith('pipelines')]; print('ok')")  # fmt: skip
    out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "ok", out.stderr


def test_a_feature_whose_extra_is_missing_names_the_install_command(monkeypatch):
    import importlib

    from runtime.extras import require

    real = importlib.import_module

    def without_torch(name, *args):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_torch)
    with pytest.raises(
        ImportError, match=r"the rmvpe pitch extractor needs torch: pip install 'still\[torch\]', or"
    ):
        require("torch", "torch", "the rmvpe pitch extractor", "choose fcpe|harvest|yin")
    assert require("numpy", "base", "arrays").__name__ == "numpy"
