"""The demo camera clip (pipelines/demo_data/camera.py): a video call of someone who is not the persona,
in segments the sidecar names, readable back frame for frame, the same for a seed, with the face
found where it was drawn."""

from __future__ import annotations

import json
from itertools import pairwise

import cv2
import numpy as np
import pytest

from pipelines.demo_data import camera
from pipelines.face_align.detectors import YuNetMTCNNDetector, yunet_model_file
from pipelines.face_align.identity import SFaceEmbedder
from pipelines.stage import compose_config
from runtime.face.detect import YuNet
from runtime.face.geometry import arcface_template, fit_similarity, warp_face

KINDS = {"rest", "move", "turn", "occluded", "absent", "dim", "black"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("camera")
    meta = camera.write_camera(folder, seed=7)
    cap = cv2.VideoCapture(str(folder / "demo_call.mp4"))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return {"folder": folder, "meta": meta, "frames": frames, "fps": fps}


def iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def frames_of(clip, kind: str, step: int = 1) -> list[int]:
    return [r["frame"] for r in clip["meta"]["per_frame"] if r["segment"] == kind][::step]


def test_the_clip_reads_back_frame_for_frame(clip):
    meta, frames = clip["meta"], clip["frames"]
    assert len(frames) == meta["frames"] == meta["segments"][-1]["end"]
    assert frames[0].shape == (720, 1280, 3) and clip["fps"] == pytest.approx(meta["fps"])
    assert 8 <= meta["frames"] / meta["fps"] <= 12
    assert (clip["folder"] / "demo_call.mp4").stat().st_size < 5e6
    assert json.loads((clip["folder"] / "demo_call.json").read_text(encoding="utf-8")) == meta


def test_the_sidecar_names_every_segment_and_where_the_face_is(clip):
    meta = clip["meta"]
    segs = meta["segments"]
    assert {s["kind"] for s in segs} == KINDS
    assert segs[0]["start"] == 0 and all(a["end"] == b["start"] for a, b in pairwise(segs))
    rows = meta["per_frame"]
    assert [r["frame"] for r in rows] == list(range(meta["frames"]))
    for r in rows:
        if r["segment"] in ("absent", "black"):
            assert r["box"] is None, r
        elif r["segment"] in ("rest", "turn", "occluded", "dim"):
            assert r["box"] is not None, r
    assert all(clip["frames"][i].max() == 0 for i in frames_of(clip, "black"))
    dim = [r["brightness"] for r in rows if r["segment"] == "dim"]
    assert dim[-1] <= 0.3 and max(r["hand"] for r in rows if r["segment"] == "occluded") == 1.0


def test_same_seed_same_bytes(clip, tmp_path):
    camera.write_camera(tmp_path, seed=7)
    for name in ("demo_call.mp4", "demo_call.wav"):
        assert (tmp_path / name).read_bytes() == (clip["folder"] / name).read_bytes()


def test_the_callers_microphone_lasts_as_long_as_the_clip_in_the_call_format(clip):
    """48 kHz mono 16-bit (what call mode asks of devices), speech with pauses at a lower pitch
    than the persona's recordings, for the clip's whole length."""
    import soundfile as sf

    from pipelines.audio_dsp import estimate_snr_db

    info = sf.info(str(clip["folder"] / "demo_call.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (48000, 1, "PCM_16")
    assert info.duration == pytest.approx(clip["meta"]["frames"] / clip["meta"]["fps"], abs=1e-3)
    assert clip["meta"]["audio"] == {
        "file": "demo_call.wav",
        "samplerate": 48000,
        "seconds": round(info.duration, 3),
    }
    x, sr = sf.read(str(clip["folder"] / "demo_call.wav"), dtype="float32")
    rms = np.sqrt(np.mean(x[: len(x) // 4800 * 4800].reshape(-1, 4800) ** 2, axis=1))  # per 0.1 s
    assert (rms < 0.01).mean() > 0.15 and (rms > 0.03).mean() > 0.4  # pauses and speech
    assert estimate_snr_db(x, sr) > 20


def test_yunet_finds_the_face_where_it_was_drawn(clip):
    det = YuNet(yunet_model_file())
    rows = clip["meta"]["per_frame"]
    for kind in ("rest", "turn", "dim"):
        for i in frames_of(clip, kind, step=4):
            found = det.detect(clip["frames"][i])
            assert found, (kind, i)
            best = max(found, key=lambda d: d.score)
            assert best.score > 0.8 and iou(best.box, rows[i]["box"]) > 0.7, (kind, i)  # ~0.93 measured
    for i in frames_of(clip, "absent") + frames_of(clip, "black"):
        assert not det.detect(clip["frames"][i]), i


def test_the_caller_is_not_the_persona(clip, face_demo):
    """The demo call starts as another person: SFace cosine to the persona's curated identity is far
    below face_curate's other-person threshold (measured about -0.02)."""
    persona = np.load(face_demo["curate"] / "identity.npy")
    other_person = compose_config().face_curate.thresholds.other_person
    det, emb = YuNetMTCNNDetector(), SFaceEmbedder()
    sims = []
    for i in frames_of(clip, "rest", step=10):
        face = max(det.detect(clip["frames"][i]), key=lambda f: f.score)
        crop = warp_face(clip["frames"][i], fit_similarity(face.points, arcface_template(112)), 112)
        sims.append(float(emb.embed(crop) @ persona))
    assert max(sims) < other_person, sims
