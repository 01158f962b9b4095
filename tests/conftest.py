"""Shared test fixtures: real config composed from conf/, shrunk to temp paths."""

from __future__ import annotations

import json
import os
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")  # see stack-notes: 2 cores shared with neighbours
# the runtime's verification cache goes to a temp folder, not the home directory
os.environ.setdefault("STILL_CACHE_DIR", tempfile.mkdtemp(prefix="still-cache-"))

from pathlib import Path

import pytest
from omegaconf import DictConfig

from pipelines.stage import compose_config

REPO = Path(__file__).resolve().parents[1]
LONG_TESTS = {"test_dvc_pipeline.py": 900}  # seconds: modules that run dvc repro on the demo


def pytest_collection_modifyitems(items):
    """A per-test timeout for every test (pyproject's `timeout`), longer for the dvc end-to-end
    module and for `slow` tests (the whole demo, package installs)."""
    for item in items:
        if item.get_closest_marker("timeout"):
            continue
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.timeout(3600))
        elif item.path.name in LONG_TESTS:
            item.add_marker(pytest.mark.timeout(LONG_TESTS[item.path.name]))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data root laid out like data/ (raw inputs go under raw/chats etc.)."""
    root = tmp_path / "data"
    (root / "raw" / "chats").mkdir(parents=True)
    return root


@pytest.fixture
def make_cfg(data_dir: Path):
    """Compose the real config from conf/, re-rooted at `data_dir`, with extra overrides."""

    def make(*overrides: str) -> DictConfig:
        return compose_config([f"paths.data={data_dir}", *overrides])

    return make


@pytest.fixture(scope="session")
def names_model():
    """The person-name model as conf/anonymize builds it (runtime/person.py), once per session."""
    from omegaconf import OmegaConf

    from pipelines.anonymize import person_model

    return person_model.build(OmegaConf.load(REPO / "conf" / "anonymize" / "default.yaml").person)


@pytest.fixture(scope="session")
def person_tagger(names_model):
    """The person tagger as conf/person_tagger trains it (pipelines/person_tagger), once per session
    (~30 s on one core)."""
    from omegaconf import OmegaConf

    from pipelines.person_tagger import run

    cfg = OmegaConf.create(
        {"person_tagger": OmegaConf.load(REPO / "conf" / "person_tagger" / "default.yaml")}
    )
    return run(cfg, names_model)[0]


@pytest.fixture(scope="session")
def face_demo(tmp_path_factory):
    """The demo photos through face_align and face_curate, once per session (the face tests share it)."""
    from pipelines.demo_data.photos import write_photos  # imported here: most tests need no cv2
    from pipelines.face_align.__main__ import main as face_align
    from pipelines.face_curate.__main__ import main as face_curate

    root = tmp_path_factory.mktemp("face") / "data"
    manifest = write_photos(root / "raw" / "photos")
    argv = [f"paths.data={root}"]
    face_align(argv)
    face_curate(argv)
    align, curate = root / "interim" / "face_align", root / "processed" / "face_curate"
    faces = json.loads((align / "faces.json").read_text(encoding="utf-8"))
    report = json.loads((curate / "report.json").read_text(encoding="utf-8"))
    return {
        "root": root,
        "manifest": manifest,
        "align": align,
        "curate": curate,
        "faces": faces,
        "photos": {p["file"]: p for p in json.loads((align / "photos.json").read_text(encoding="utf-8"))},
        "report": {p["file"]: p for p in report["photos"]},
        "summary": report["summary"],
        "argv": argv,
    }


@pytest.fixture(scope="session")
def voice_model(tmp_path_factory):
    """voice_export on a random tiny G and a small index (no training: fast)."""
    import faiss
    import numpy as np
    import torch
    from omegaconf import OmegaConf

    from pipelines.stage import compose_config
    from pipelines.voice_export import run
    from pipelines.voice_features import content
    from pipelines.voice_train import build_index, synth_config
    from runtime.voice.synth import Synthesizer

    root = tmp_path_factory.mktemp("voice")
    cfg = compose_config([f"paths.data={root}"])
    torch.manual_seed(0)
    net = Synthesizer(synth_config(cfg))
    src = Path(cfg.voice_export.input)
    src.mkdir(parents=True)
    torch.save({"model": net.state_dict(), "config": net.cfg.to_dict(), "iteration": 0}, src / "G.pth")
    feats = np.random.default_rng(0).standard_normal((800, 768)).astype(np.float32)
    faiss.write_index(build_index(feats), str(src / "features.index"))
    out = root / "export"
    out.mkdir()
    OmegaConf.update(cfg, "voice_export.convert.enabled", False)
    report = run(cfg, content.load(cfg.voice_features.content), out, None)
    assert report["onnx_max_abs_diff"] < 1e-4
    return out
