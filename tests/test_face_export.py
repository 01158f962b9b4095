"""face_curate -> face_export on the demo photos: the component is exactly what runtime/face/faceset.py
reads, names no source photo, carries an ArcFace identity when a recogniser is configured, and
packages into a bundle that the runtime verifies and `doctor` describes."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import yaml

from pipelines.face_align.detectors import yunet_model_file
from pipelines.face_curate.__main__ import main as face_curate
from pipelines.face_export import check
from pipelines.face_export.__main__ import main as face_export
from pipelines.stage import CONF_DIR, StageError, compose_config
from runtime import doctor
from runtime.bundle import FACE, open_bundle, write_manifest
from runtime.face.faceset import FaceSet
from runtime.face.geometry import ffhq_template
from runtime.face.settings import LiveSettings
from tests.signing_key import TEST_KEY


@pytest.fixture(scope="module")
def exported(face_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("face_export") / "face_export"
    argv = [*face_demo["argv"], f"face_export.output={out}", "face_export.check.camera=null"]
    face_export(argv)
    return {**face_demo, "out": out, "spec": json.loads((out / "face.json").read_text(encoding="utf-8"))}


def test_face_json_is_the_component_the_runtime_reads(exported):
    spec, out = exported["spec"], exported["out"]
    landmarks = json.loads((exported["curate"] / "landmarks.json").read_text(encoding="utf-8"))
    assert spec["format"] == 1 and spec["detector"] == {"file": "detector.onnx", "kind": "yunet"}
    assert spec["crop"] == {"name": "ffhq_512", "template": "ffhq", "size": 512}
    assert [f["file"] for f in spec["faces"]] == [f"crops/{r:02d}.png" for r in range(1, len(landmarks) + 1)]
    assert len(spec["faces"]) == exported["summary"]["kept"] >= 5
    for face, row in zip(spec["faces"], landmarks, strict=True):
        assert np.linalg.norm(np.array(face["points"]) - ffhq_template(512), axis=1).mean() < 0.05 * 512
        assert np.allclose(face["points"], row["crops"]["ffhq_512"]["points"], atol=0.01)
        assert {k: face[k] for k in ("yaw", "pitch", "roll", "quality", "grid_cell")} == {
            k: row[k] for k in ("yaw", "pitch", "roll", "quality", "grid_cell")
        }
    assert spec["grid"] == {k: exported["summary"][k] for k in ("yaw_edges", "pitch_edges")}
    assert spec["identities"] == {"sface": {"file": "identity_sface.npy", "dim": 128}}
    assert spec["default_swapper"] == "classic" and spec["live"] == LiveSettings().to_dict()
    assert (out / "detector.onnx").read_bytes() == yunet_model_file().read_bytes()
    assert {p.name for p in out.iterdir()} == {"face.json", "detector.onnx", "crops", "identity_sface.npy"}

    faceset = FaceSet.load(out)
    assert len(faceset.faces) == len(spec["faces"]) and faceset.faces[0].image.shape == (512, 512, 3)
    persona = np.load(exported["curate"] / "identity.npy")
    assert (
        faceset.identity("sface") == pytest.approx(persona, abs=1e-6) and faceset.identity("arcface") is None
    )
    assert LiveSettings.from_dict(faceset.live) == LiveSettings()


def test_no_source_photo_name_in_any_output_file(exported):
    names = {n for n in exported["manifest"]} | {n.rsplit(".", 1)[0] for n in exported["manifest"]}
    blobs = {
        p.relative_to(exported["out"]).as_posix(): p.read_bytes()
        for p in exported["out"].rglob("*")
        if p.is_file()
    }
    leaks = {(f, n) for f, blob in blobs.items() for n in names if n.encode() in blob}
    assert leaks == set()
    assert all("file" not in f or f["file"].startswith("crops/") for f in exported["spec"]["faces"])


def test_conf_lists_every_live_setting_with_its_default():
    conf = yaml.safe_load((CONF_DIR / "face_export" / "default.yaml").read_text(encoding="utf-8"))
    assert conf["live"] == LiveSettings().to_dict()
    assert [f.name for f in dataclasses.fields(LiveSettings)] == list(conf["live"])


def test_bad_live_settings_and_missing_recogniser_are_user_errors(exported, tmp_path):
    argv = [*exported["argv"], f"face_export.output={tmp_path}/fx", "face_export.check.camera=null"]
    with pytest.raises(StageError, match=r"face_export\.live: .*detect_every"):
        face_export([*argv, "face_export.live.detect_every=0"])
    missing = tmp_path / "models" / "w600k_r50.onnx"
    with pytest.raises(StageError, match=r"w600k_r50\.onnx: file not found.*buffalo_l.*recogniser=null"):
        face_export([*argv, f"face_export.recogniser={missing}"])
    assert not (tmp_path / "fx").exists()


def test_an_empty_face_curate_points_at_its_report(exported, tmp_path):
    cur = tmp_path / "cur"
    face_curate([*exported["argv"], f"face_curate.output={cur}", "face_curate.thresholds.other_person=1.01"])
    with pytest.raises(StageError, match=rf"kept no faces.*{cur}/report\.json"):
        face_export([*exported["argv"], f"face_export.input={cur}", f"face_export.output={tmp_path}/fx"])


def test_the_check_runs_only_with_a_camera_clip(exported, tmp_path):
    cfg = compose_config([*exported["argv"], f"face_export.check.camera={tmp_path}/none.mp4"])
    assert check(cfg, exported["out"]) is None  # missing clip: logged, no check
    cfg = compose_config([*exported["argv"], "face_export.check.camera=null"])
    assert check(cfg, exported["out"]) is None
    assert not (exported["out"] / "check").exists()
    default = compose_config([*exported["argv"]]).face_export.check.camera
    assert default == f"{exported['root']}/raw/camera/demo_call.mp4"


def test_the_check_converts_the_demo_camera_clip_with_the_live_engine(exported, tmp_path):
    from pipelines.demo_data.camera import write_camera

    clip = write_camera(tmp_path / "camera")
    out = tmp_path / "fx"
    face_export([*exported["argv"], f"face_export.output={out}",
                 f"face_export.check.camera={tmp_path}/camera/demo_call.mp4"])  # fmt: skip
    report = json.loads((out / "check" / "converted.json").read_text(encoding="utf-8"))
    assert (out / "check" / "converted.mp4").stat().st_size > 0
    assert report["camera"] == "demo_call.mp4" and report["swapper"] == "classic"
    assert report["frames_in"] == report["frames_out"] == clip["frames"]
    engine = report["engine"]
    assert engine["swapped"] > clip["frames"] / 2 and engine["fallback_frames"].get("no_face", 0) > 0


def test_an_arcface_recogniser_adds_the_arcface_identity(exported, tmp_path):
    onnx_graphs = pytest.importorskip(
        "tests.onnx_graphs", reason="tests/onnx_graphs.py (arcface_like) not there yet"
    )
    recognise = pytest.importorskip(
        "runtime.face.recognise", reason="runtime/face/recognise.py not there yet"
    )
    graph = tmp_path / "w600k_r50.onnx"
    onnx_graphs.arcface_like(graph, size=112, seed=0)
    out = tmp_path / "fx"
    face_export([*exported["argv"], f"face_export.output={out}", "face_export.check.camera=null",
                 f"face_export.recogniser={graph}"])  # fmt: skip
    spec = json.loads((out / "face.json").read_text(encoding="utf-8"))
    arc = spec["identities"]["arcface"]
    assert arc == {"file": "identity_arcface.npy", "dim": 512, "recogniser": "w600k_r50.onnx"}
    faceset = FaceSet.load(out)
    v = faceset.identity("arcface")
    assert v.shape == (512,) and np.linalg.norm(np.load(out / arc["file"])) == pytest.approx(1.0, abs=1e-4)
    # what the stage computed: each crop re-aligned to ArcFace 112 from its points, embedded, averaged
    from runtime.face.geometry import arcface_template, fit_similarity, warp_face

    model = recognise.ArcFaceRecogniser(graph)
    embs = [model.embed(warp_face(f.image, fit_similarity(f.points, arcface_template(112)), 112))
            for f in faceset.faces]  # fmt: skip
    assert v == pytest.approx(np.asarray(recognise.mean_identity(embs)), abs=1e-4)
    assert str(tmp_path) not in (out / "face.json").read_text(encoding="utf-8")  # a file name, not a path


# ----------------------------------------------------------------------------- the bundle


def bundle_with_face(exported, tmp_path, *overrides):
    """A bundle holding only the face component, packaged the way the package stage does it."""
    from pipelines.package import add_face

    root = tmp_path / "bundle"
    root.mkdir(parents=True)
    cfg = compose_config([*exported["argv"], f"package.face={exported['out']}", *overrides])
    component = add_face(cfg, root)
    if component:
        write_manifest(root, {"name": "t", "components": {FACE: component}}, TEST_KEY)
    return root, component


def test_the_bundle_ships_the_face_without_the_check(exported, tmp_path):
    src = tmp_path / "face_export"
    shutil.copytree(exported["out"], src)
    (src / "check").mkdir()
    (src / "check" / "converted.mp4").write_bytes(b"not shipped")
    root, component = bundle_with_face({**exported, "out": src}, tmp_path)
    assert component == {
        "path": "face",
        "faces": len(exported["spec"]["faces"]),
        "default_swapper": "classic",
        "identities": ["sface"],
        "crop": {"template": "ffhq", "size": 512},
    }
    bundle = open_bundle(root)
    assert bundle.face == root / "face" and not (root / "face" / "check").exists()
    assert FaceSet.load(bundle.face).spec == exported["spec"]
    lines = doctor.face_lines(bundle)
    assert lines[0].startswith(f"face: {component['faces']} persona faces (ffhq 512px crops)")
    assert "default swapper classic" in lines[0] and "identities sface" in lines[0]
    assert "OpenCV" in lines[1] and "onnxruntime" in lines[1] and "CPUExecutionProvider" in lines[1]


def test_packaging_without_an_exported_face_says_what_to_run(exported, tmp_path):
    from pipelines.package import add_face

    cfg = compose_config([*exported["argv"], f"package.face={tmp_path}/nothing"])
    (tmp_path / "b").mkdir()
    with pytest.raises(StageError, match=r"face\.json not found.*face_export.*include_face=false"):
        add_face(cfg, tmp_path / "b")
    assert add_face(compose_config([*exported["argv"], "package.include_face=false"]), tmp_path / "b") is None


def test_doctor_says_when_a_bundle_has_no_face(tmp_path):
    write_manifest(tmp_path, {"name": "t", "components": {}}, TEST_KEY)
    assert doctor.face_lines(open_bundle(tmp_path)) == ["face: none (no live face swap)"]
