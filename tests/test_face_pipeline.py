"""face_align -> face_curate on the demo photos: every photo gets a reasoned decision, the persona's
variants are measured as they were made (rotation, mirror, darkening, blur, turns), other people
are rejected, bad files do not crash, and the aligned faces sit on the templates."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pipelines.demo_data.photos import OTHER, PERSONA, write_photos
from pipelines.face_align import run as align_run
from pipelines.face_align.__main__ import main as face_align
from pipelines.face_align.detectors import DETECTORS, build_detector
from pipelines.face_align.images import list_photos
from pipelines.face_curate.__main__ import main as face_curate
from pipelines.stage import StageError, compose_config
from runtime.face.geometry import arcface_template, ffhq_template


@pytest.fixture
def demo(face_demo):
    """The demo photos through face_align and face_curate (tests/conftest.py, once per session)."""
    return face_demo


def persona_face(demo, file: str) -> dict:
    """The face most like the persona in `file`."""
    return max((f for f in demo["faces"] if f["file"] == file), key=lambda f: f["identity_sim"])


def test_report_lists_every_photo_with_a_decision_and_reason(demo):
    assert set(demo["report"]) == set(demo["manifest"])
    for name, row in demo["report"].items():
        assert row["decision"] in ("kept", "rejected") and row["reason"], name


@pytest.mark.parametrize(
    ("file", "kind", "words"),
    [
        ("astronaut_blurred.jpg", "blurred", "sharpness"),
        ("astronaut_dark.jpg", "dark", "luma"),
        ("astronaut_tiny.jpg", "tiny", "px apart"),
        ("astronaut_occluded.jpg", "occluded", "lower face"),
        ("other_person_00.png", "other_person", "identity"),
        ("other_person_03.png", "other_person", "identity"),
        ("cameraman.png", "other_person", "identity"),
        ("crowd.jpg", "other_person", "none the persona"),
        ("coffee.jpg", "no_face", "no face"),
        ("chelsea_the_cat.png", "no_face", "no face"),
        ("shopping_list.jpg", "unreadable", "not an image"),
        ("empty.png", "unreadable", "not an image"),
        ("truncated.jpg", "unreadable", "truncated"),
    ],
)
def test_rejections_carry_their_reason(demo, file, kind, words):
    row = demo["report"][file]
    assert (row["decision"], row["kind"]) == ("rejected", kind), row
    assert words in row["reason"]


def test_persona_variants_are_kept_or_duplicates(demo):
    persona = [n for n, what in demo["manifest"].items() if what == PERSONA]
    kinds = {n: demo["report"][n]["kind"] for n in persona}
    assert set(kinds.values()) <= {"kept", "near_duplicate"}, kinds
    kept = [n for n, k in kinds.items() if k == "kept"]
    assert len(kept) >= 5 and demo["summary"]["kept"] == len(kept)
    for n, what in demo["manifest"].items():
        if what != PERSONA:
            assert demo["report"][n]["decision"] == "rejected", n


def test_group_photo_keeps_only_the_persona(demo):
    faces = [f for f in demo["report"]["astronaut_with_others.jpg"]["faces"]]
    assert len(faces) == 3
    persona = max(faces, key=lambda f: f["identity_sim"])
    assert persona["identity_sim"] > 0.9 and persona["kind"] in ("kept", "near_duplicate")
    others = [f for f in faces if f is not persona]
    assert all(f["kind"] == "other_person" and f["identity_sim"] < 0.36 for f in others)


def test_pose_follows_the_variants(demo):
    base = persona_face(demo, "astronaut.jpg")
    for file, turn in (("astronaut_rot_plus25.jpg", -25.0), ("astronaut_rot_minus15.jpg", 15.0)):
        assert persona_face(demo, file)["roll"] - base["roll"] == pytest.approx(turn, abs=4.0), file
    mirror = persona_face(demo, "astronaut_mirror.jpg")
    assert mirror["roll"] == pytest.approx(-base["roll"], abs=2.0)
    assert mirror["yaw"] < base["yaw"]  # a mirrored face turns the other way
    assert persona_face(demo, "astronaut_turn_left.jpg")["yaw"] < base["yaw"] - 4
    assert persona_face(demo, "astronaut_turn_right.jpg")["yaw"] > base["yaw"] + 4
    assert persona_face(demo, "astronaut_nod_up.jpg")["pitch"] > base["pitch"] + 5
    assert persona_face(demo, "astronaut_nod_down.jpg")["pitch"] < base["pitch"] - 4
    # EXIF orientation applied: the stored pixels lie on their side, the face is upright
    assert persona_face(demo, "astronaut_exif_rotated.jpg")["roll"] == pytest.approx(base["roll"], abs=3.0)
    assert demo["photos"]["astronaut_exif_rotated.jpg"]["exif_orientation"] == 8


def test_quality_scores_follow_the_variants(demo):
    base = persona_face(demo, "astronaut.jpg")
    blurred, dark = persona_face(demo, "astronaut_blurred.jpg"), persona_face(demo, "astronaut_dark.jpg")
    assert blurred["sharpness"] < 0.1 * base["sharpness"]
    assert dark["luma"] < 0.2 * base["luma"]
    assert dark["sharpness"] > 0.5 * base["sharpness"]  # contrast-normalised: dark is not blurred
    assert dark["identity_sim"] > 0.8  # still the persona
    assert persona_face(demo, "astronaut_occluded.jpg")["occlusion"] > 0.5 > base["occlusion"]


def test_odd_images_decode(demo):
    p = demo["photos"]
    assert p["astronaut_gray.png"]["mode"] == "L" and p["astronaut_cmyk.jpg"]["mode"] == "CMYK"
    assert p["astronaut_side_light.webp"]["format"] == "WEBP"
    for name in ("astronaut_gray.png", "astronaut_cmyk.jpg"):
        assert persona_face(demo, name)["identity_sim"] > 0.9


def test_panorama_is_detected_downscaled_and_mapped_back(demo):
    pano, base = demo["photos"]["astronaut_panorama.jpg"], persona_face(demo, "astronaut.jpg")
    assert (pano["width"], pano["height"]) == (7200, 1600) and pano["detect_scale"] < 0.2
    face = persona_face(demo, "astronaut_panorama.jpg")
    expected = np.array(base["points"]) * 3 + [4800, 40]  # pasted 3x larger at (4800, 40)
    iod = np.hypot(*np.subtract(expected[1], expected[0]))
    assert np.linalg.norm(np.array(face["points"]) - expected, axis=1).max() < 0.1 * iod


def test_kept_crops_sit_on_the_templates(demo):
    """The five points fit the template up to the face's own shape (a similarity cannot bend a
    smile), and landmarks found again by MTCNN on the written crops are where the fit put them."""
    landmarks = json.loads((demo["curate"] / "landmarks.json").read_text())
    assert landmarks
    detector = DETECTORS["mtcnn"](min_face=40)
    for row in landmarks[:4]:
        for name, tpl in (("arcface_112", arcface_template(112)), ("ffhq_512", ffhq_template(512))):
            crop = cv2.imread(str(demo["curate"] / "crops" / name / f"{row['rank']:02d}_{row['id']}.png"))
            size = crop.shape[0]
            fitted = np.array(row["crops"][name]["points"])
            assert np.linalg.norm(fitted - tpl, axis=1).mean() < 0.05 * size
            big = cv2.resize(crop, (512, 512), interpolation=cv2.INTER_CUBIC)  # MTCNN points are whole pixels
            found = max(
                detector.detect(cv2.copyMakeBorder(big, 64, 64, 64, 64, cv2.BORDER_REPLICATE)),
                key=lambda f: f.score,
            )
            err = np.linalg.norm((found.points - 64) * size / 512 - fitted, axis=1).mean() / size
            assert err < 0.025, (name, row["file"], err)  # ~1% measured; MTCNN jitter


def test_curated_outputs(demo):
    cur = demo["curate"]
    identity = np.load(cur / "identity.npy")
    assert identity.shape == (128,) and np.linalg.norm(identity) == pytest.approx(1.0, abs=1e-5)
    emb = np.load(demo["align"] / "embeddings.npy")
    base = persona_face(demo, "astronaut.jpg")
    assert float(emb[int(base["id"][1:])] @ identity) > 0.9
    kept = demo["summary"]["kept"]
    for name, size in (("arcface_112", 112), ("arcface_128", 128), ("ffhq_512", 512)):
        files = sorted((cur / "crops" / name).glob("*.png"))
        assert len(files) == kept and cv2.imread(str(files[0])).shape == (size, size, 3)
    metrics = json.loads((cur / "metrics.json").read_text())
    assert metrics["kept"] == kept and metrics["grid_cells_filled"] >= 2
    # each kept face's pose, quality and grid cell travel with its landmarks (face_export reads them)
    reported = {f["id"]: f for p in demo["report"].values() for f in p["faces"] if f["decision"] == "kept"}
    landmarks = json.loads((cur / "landmarks.json").read_text(encoding="utf-8"))
    assert len(landmarks) == kept
    for row in landmarks:
        face = reported[row["id"]]
        for key in ("yaw", "pitch", "roll", "quality"):
            assert row[key] == pytest.approx(face[key], abs=0.06), key
        assert row["grid_cell"] == face["grid_cell"]


def test_n_limits_the_kept_set_and_says_so(demo, tmp_path):
    face_curate([*demo["argv"], "face_curate.n=2", f"face_curate.output={tmp_path}/cur"])
    report = json.loads((tmp_path / "cur" / "report.json").read_text())
    kinds = [p["kind"] for p in report["photos"]]
    assert kinds.count("kept") == 2 and "not_in_best_n" in kinds
    cells = {tuple(f["grid_cell"]) for p in report["photos"] for f in p["faces"] if f["decision"] == "kept"}
    assert len(cells) == 2  # the coverage bonus spreads two picks over two pose cells


def test_reference_photos_define_the_persona(demo):
    """Marking another person's photo as the reference makes them the persona."""
    photos = demo["root"] / "raw" / "photos"
    cfg = compose_config([f"paths.data={demo['root']}", "face_align.references=[other_person_00.png]"])
    files = [photos / n for n in ("astronaut.jpg", "other_person_00.png", "astronaut_mirror.jpg")]
    result = align_run(cfg, files)
    assert result.identity["method"] == "references"
    sims = {f["file"]: f["identity_sim"] for f in result.faces}
    assert sims["other_person_00.png"] > 0.99 and sims["astronaut.jpg"] < 0.36


def test_unknown_reference_and_empty_folder_are_user_errors(demo, tmp_path):
    cfg = compose_config([f"paths.data={demo['root']}", "face_align.references=[nobody.jpg]"])
    with pytest.raises(StageError, match=r"nobody\.jpg"):
        align_run(cfg, [demo["root"] / "raw" / "photos" / "astronaut.jpg"])
    with pytest.raises(StageError, match="no photos"):
        face_align([f"paths.data={tmp_path}"])


def test_detectors_come_from_the_registry(demo):
    cfg = compose_config([f"paths.data={demo['root']}", "face_align.detector=nope"])
    with pytest.raises(StageError, match="choose one of"):
        build_detector(cfg.face_align)
    cfg = compose_config([f"paths.data={demo['root']}", "face_align.detector=mtcnn"])
    det = build_detector(cfg.face_align)
    img = cv2.imread(str(demo["root"] / "raw" / "photos" / "astronaut.jpg"))
    (face,) = det.detect(img)
    base = persona_face(demo, "astronaut.jpg")
    assert np.abs(face.points - np.array(base["points"])).max() < 3  # MTCNN alone agrees with the default


def test_face_alignment_without_weights_names_the_file(tmp_path, make_cfg):
    cfg = make_cfg(
        "face_align.detector=face_alignment",
        f"face_align.detectors.face_alignment.torch_home={tmp_path}",
    )
    with pytest.raises(StageError) as e:
        build_detector(cfg.face_align)
    msg = str(e.value)
    assert "2DFAN4-11f355bf06.pth.tar" in msg and str(tmp_path / "hub" / "checkpoints") in msg
    assert "https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar" in msg
    # with the FAN file in place, the detector file is the next thing it asks for
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "2DFAN4-11f355bf06.pth.tar").write_bytes(b"placeholder")
    with pytest.raises(StageError, match=r"path_to_detector=None .*s3fd-619a316812.pth"):
        build_detector(cfg.face_align)


def test_listing_skips_hidden_and_non_image_names(tmp_path):
    for name in ("a.jpg", "b.PNG", ".hidden.jpg", "notes.txt", "sub/c.webp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in list_photos(tmp_path)] == [
        "a.jpg",
        "b.PNG",
        "sub/c.webp",
    ]


def test_demo_photos_are_deterministic(tmp_path):
    a = write_photos(tmp_path / "a", seed=3)
    write_photos(tmp_path / "b", seed=3)
    for name in a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert OTHER in a.values() and sum(v == PERSONA for v in a.values()) >= 10


def test_decode_odd_modes_and_missing_heic_decoder(tmp_path):
    from PIL import Image

    from pipelines.face_align import images

    g16 = (np.arange(64 * 32, dtype=np.uint16).reshape(32, 64) * 30).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "deep.png")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent: composited on white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    Image.new("P", (8, 8), 3).save(tmp_path / "palette.png")
    deep, info = images.decode(tmp_path / "deep.png")
    assert (
        deep.dtype == np.uint8
        and deep.shape == (32, 64, 3)
        and deep.max() == 255
        and info["mode"].startswith("I")
    )
    clear, _ = images.decode(tmp_path / "clear.png")
    assert (clear == 255).all()
    assert images.decode(tmp_path / "palette.png")[0].shape == (8, 8, 3)
    (tmp_path / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    if images.HEIF:
        with pytest.raises(images.UnreadablePhoto):
            images.decode(tmp_path / "phone.heic")
    else:
        with pytest.raises(images.UnreadablePhoto, match="pillow-heif"):
            images.decode(tmp_path / "phone.heic")
