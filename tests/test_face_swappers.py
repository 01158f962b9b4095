"""The swappers behind `build_swapper` (classic, inswapper, dfm), the ArcFace recogniser, the face
enhancer and the compositing helpers, on tiny random graphs with the real models' interfaces and a
face component of the astronaut (tests/onnx_graphs.py)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from skimage import data

from runtime.face.blend import face_region_mask, match_colour, mouth_mask
from runtime.face.enhance import FaceEnhancer
from runtime.face.faceset import FaceSet, FaceSetError
from runtime.face.geometry import fit_similarity, template, warp_face
from runtime.face.recognise import ArcFaceRecogniser, mean_identity
from runtime.face.swappers import (
    SWAPPERS,
    ClassicSwapper,
    DFMSwapper,
    InswapperSwapper,
    build_swapper,
    read_emap,
)
from tests import face_scenes, onnx_graphs
from tests.face_scenes import ASTRONAUT_POINTS

POINTS128 = template("arcface", 128)  # a face aligned by the engine to inswapper's crop


@pytest.fixture(scope="module")
def faceset(tmp_path_factory):
    return FaceSet.load(face_scenes.write_faceset(tmp_path_factory.mktemp("face")))


@pytest.fixture(scope="module")
def astronaut():
    return np.ascontiguousarray(data.astronaut()[..., ::-1])


@pytest.fixture
def live128(astronaut):
    """The astronaut aligned to inswapper's template, as the engine hands it over."""
    return warp_face(astronaut, fit_similarity(ASTRONAUT_POINTS, POINTS128), 128)


def unit(v):
    return v / np.linalg.norm(v)


# ------------------------------------------------------------------ inswapper
def test_inswapper_projects_the_identity_through_the_graphs_emap(tmp_path, live128):
    model = onnx_graphs.inswapper_like(tmp_path / "inswapper_128.onnx")
    identity = unit(np.random.default_rng(1).normal(size=512)).astype(np.float32)
    sw = InswapperSwapper(model, identity)
    emap = numpy_helper.to_array(next(i for i in onnx.load(str(model)).graph.initializer if i.name == "emap"))
    assert np.allclose(sw.latent.ravel(), unit(identity @ emap), atol=1e-5)
    assert (sw.name, sw.template, sw.size) == ("inswapper", "arcface", 128)
    face, mask = sw.swap(live128, POINTS128)
    assert face.shape == (128, 128, 3) and face.dtype == np.uint8
    assert mask.shape == (128, 128) and mask.dtype == np.float32 and mask.min() >= 0 and mask.max() <= 1
    other, _ = InswapperSwapper(model, -identity).swap(live128, POINTS128)
    assert np.abs(other.astype(int) - face).mean() > 1  # another identity, another face


def test_inswapper_without_an_emap_initializer_is_refused(tmp_path):
    model = onnx_graphs.inswapper_like(tmp_path / "inswapper_128.onnx")
    graph = onnx.load(str(model))
    keep = [i for i in graph.graph.initializer if i.name != "emap"]
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(keep)
    onnx.save(graph, str(model))
    with pytest.raises(ValueError, match=r"inswapper_128\.onnx: no 512x512 `emap`"):
        InswapperSwapper(model, np.ones(512, np.float32))


def test_a_graph_without_the_inswapper_interface_is_refused_by_name(tmp_path):
    model = onnx_graphs.arcface_like(tmp_path / "not_a_swapper.onnx")
    with pytest.raises(ValueError, match=r"not_a_swapper\.onnx: inputs \['input'\]"):
        InswapperSwapper(model, np.ones(512, np.float32))


def test_missing_model_files_say_which_flag_and_where_users_get_them(tmp_path, faceset):
    with pytest.raises(
        FileNotFoundError, match=r"inswapper_128\.onnx not found.*insightface.*non-commercial"
    ):
        InswapperSwapper(tmp_path / "inswapper_128.onnx", np.ones(512))
    with pytest.raises(FileNotFoundError, match=r"--swapper-model PATH.*insightface"):
        build_swapper("inswapper", faceset)
    with pytest.raises(FileNotFoundError, match=r"--swapper-model FILE\.dfm.*DeepFaceLive"):
        build_swapper("dfm", faceset)
    with pytest.raises(
        ValueError, match="unknown swapper 'deepfake9000': choose one of classic, inswapper, dfm"
    ):
        build_swapper("deepfake9000", faceset)


def test_inswapper_on_a_bundle_without_arcface_identity_needs_a_recogniser(tmp_path, faceset):
    model = onnx_graphs.inswapper_like(tmp_path / "inswapper_128.onnx")
    with pytest.raises(FaceSetError, match=r"face_export\.recogniser.*--recogniser PATH.*w600k_r50\.onnx"):
        build_swapper("inswapper", faceset, model=model)


def test_inswapper_identity_is_computed_from_the_crops_with_a_recogniser(tmp_path, faceset):
    model = onnx_graphs.inswapper_like(tmp_path / "inswapper_128.onnx")
    rec = onnx_graphs.arcface_like(tmp_path / "w600k_r50.onnx")
    sw = build_swapper("inswapper", faceset, model=model, recogniser=rec)
    # each persona crop re-aligned to ArcFace 112 from its points, embedded, averaged, normalised
    r = ArcFaceRecogniser(rec)
    crops = [
        warp_face(f.image, fit_similarity(f.points, template("arcface", 112)), 112) for f in faceset.faces
    ]
    identity = unit(np.mean([r.embed(c) for c in crops], 0))
    assert np.allclose(sw.latent.ravel(), unit(identity @ read_emap(model)), atol=1e-5)


def test_inswapper_uses_the_bundles_arcface_identity(tmp_path):
    identity = unit(np.random.default_rng(2).normal(size=512)).astype(np.float32)
    fs = FaceSet.load(face_scenes.write_faceset(tmp_path / "face", arcface=identity))
    model = onnx_graphs.inswapper_like(tmp_path / "inswapper_128.onnx")
    sw = build_swapper("inswapper", fs, model=model)
    assert np.allclose(sw.latent.ravel(), unit(identity @ read_emap(model)), atol=1e-5)


# ------------------------------------------------------------------ DFM
@pytest.mark.parametrize("morph", [True, False])
def test_dfm_models_swap_with_and_without_a_morph_input(tmp_path, morph):
    model = onnx_graphs.dfm_like(tmp_path / "person.dfm", size=64, morph=morph)
    sw = DFMSwapper(model, morph=0.5)
    face = np.full((64, 64, 3), 200, np.uint8)
    out, mask = sw.swap(face, template("ffhq", 64))
    assert (sw.template, sw.size, out.shape, out.dtype, mask.shape) == (
        "ffhq",
        64,
        (64, 64, 3),
        np.uint8,
        (64, 64),
    )
    celeb = (1 - 200 / 255) * (0.5 if morph else 1.0)  # what the test graph computes: morph reached it
    assert abs(out.mean() / 255 - celeb) < 0.01
    # the test graph's two masks are sigmoid(mean of the face) each: the swapper returns their product
    assert mask == pytest.approx(np.full((64, 64), (1 / (1 + np.exp(-200 / 255))) ** 2), abs=1e-5)


def test_a_non_dfm_graph_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"x\.dfm: .*not a DeepFaceLive model.*in_face:0"):
        DFMSwapper(onnx_graphs.enhancer_like(tmp_path / "x.dfm"))


# ------------------------------------------------------------------ classic
def test_classic_picks_the_persona_face_nearest_in_pose(faceset):
    sw = ClassicSwapper(faceset)
    yaws = [f.yaw for f in faceset.faces]
    pitch = faceset.faces[0].pitch
    for k in np.argsort(yaws):
        assert sw.choose(yaws[k] + 1, pitch) == k


def test_classic_holds_its_choice_between_two_near_equal_candidates(tmp_path):
    """A caller midway between two persona poses, nearer now one, now the other: no flicker; clearly
    nearer the other, it switches."""
    sw = ClassicSwapper(FaceSet.load(face_scenes.write_faceset(tmp_path / "face", nose_shifts=(3.0, -3.0))))
    (y0, p0), (y1, _) = sw.poses
    middle = (y0 + y1) / 2
    first = sw.choose(middle + 1, p0)
    for wobble in (-2, 2, -2, 2):
        assert sw.choose(middle + wobble, p0) == first
    other = 1 - first
    assert sw.choose(sw.poses[other][0], p0) == other


def test_classic_swap_follows_the_callers_head_turn(faceset):
    """The live points decide: a caller turned like persona face k gets persona face k."""
    sw = ClassicSwapper(faceset, size=256)
    for k in (1, 2, 0):
        sw.current = None
        live_points = sw.points[k]
        sw.swap(np.zeros((256, 256, 3), np.uint8), live_points)
        assert sw.current == k


def test_classic_returns_the_persona_where_the_live_points_are_the_persona_points(faceset):
    sw = ClassicSwapper(faceset, size=256)
    assert (sw.name, sw.template, sw.size) == ("classic", "ffhq", 256)
    face, mask = sw.swap(np.zeros((256, 256, 3), np.uint8), sw.points[0])
    persona = cv2.resize(faceset.faces[0].image, (256, 256), interpolation=cv2.INTER_CUBIC)
    inside = mask > 0.9
    assert 0.1 < inside.mean() < 0.5 and mask[0].max() < 0.01  # the face, not the crop's border
    assert np.abs(face.astype(int) - persona)[inside].mean() < 2


def test_classic_mask_is_zero_where_the_warped_persona_has_no_pixels(faceset):
    sw = ClassicSwapper(faceset, size=128)
    live_points = sw.points[0].copy()
    sw.points[0] = live_points - (40, 0)  # a persona face near its crop's left edge
    sw.current = 0
    _, mask = sw.swap(np.zeros((128, 128, 3), np.uint8), live_points)
    # the warped persona crop starts at x = 40; the face region alone reaches further left
    assert face_region_mask(128, live_points)[:, 30:39].max() > 0.1
    assert mask[:, :39].max() == 0 and mask[:, 42:].max() > 0.9


# ------------------------------------------------------------------ blend
def test_face_region_mask_covers_eyes_to_mouth_but_not_the_crop_border():
    pts = template("ffhq", 256)
    m = face_region_mask(256, pts)
    assert m.dtype == np.float32 and m.shape == (256, 256)
    for x, y in pts:
        assert m[round(y), round(x)] > 0.95
    assert m[:20].max() == 0 and m[:, :20].max() == 0 and m[:, -20:].max() == 0
    assert face_region_mask(256, pts + 0.01) is m  # a still face reuses the cached mask


def test_mouth_mask_covers_the_mouth_not_the_eyes():
    m = mouth_mask(128, POINTS128)
    mouth, eye = POINTS128[3:].mean(0), POINTS128[0]
    assert m[round(mouth[1]), round(mouth[0])] > 0.9 and m[round(eye[1]), round(eye[0])] < 0.01


def test_match_colour_moves_the_face_to_the_frames_light():
    rng = np.random.default_rng(0)
    src = np.clip(rng.normal((170, 150, 200), 20, (128, 128, 3)), 0, 255).astype(np.uint8)
    ref = np.clip(rng.normal((60, 80, 90), 10, (128, 128, 3)), 0, 255).astype(np.uint8)
    mask = face_region_mask(128, POINTS128)
    inside = mask > 0.5

    def lab_mean(img):
        return cv2.cvtColor(img, cv2.COLOR_BGR2LAB)[inside].astype(float).mean(0)

    out = match_colour(src, ref, mask)
    assert np.abs(lab_mean(out) - lab_mean(ref)).max() < 3 < np.abs(lab_mean(src) - lab_mean(ref)).max()
    assert match_colour(src, ref, np.zeros((128, 128), np.float32)) is src  # no face measured: as it was


def test_match_colour_on_a_grey_frame_greys_the_face_but_keeps_its_texture():
    rng = np.random.default_rng(0)
    src = np.clip(rng.normal((120, 140, 190), 25, (128, 128, 3)), 0, 255).astype(np.uint8)
    grey = np.full((128, 128, 3), 128, np.uint8)
    out = match_colour(src, grey, np.ones((128, 128), np.float32))
    lab_src, lab_out = (cv2.cvtColor(x, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(float) for x in (src, out))
    assert np.abs(lab_out[:, 1:].mean(0) - 128).max() < 2  # the reference's (neutral) colour
    assert lab_out[:, 0].std() > 0.45 * lab_src[:, 0].std()  # bounded gain: not flattened to one tone


# ------------------------------------------------------------------ recogniser, enhancer
def test_arcface_recogniser_gives_unit_vectors_that_tell_faces_apart(tmp_path, astronaut):
    rec = ArcFaceRecogniser(onnx_graphs.arcface_like(tmp_path / "w600k_r50.onnx"))
    a = rec.embed_aligned(astronaut, ASTRONAUT_POINTS)
    again = rec.embed(warp_face(astronaut, fit_similarity(ASTRONAUT_POINTS, template("arcface", 112)), 112))
    other = rec.embed_aligned(astronaut, ASTRONAUT_POINTS + np.array([150, 250]))  # her suit, not her face
    assert a.shape == (512,) and a.dtype == np.float32 and np.linalg.norm(a) == pytest.approx(1, abs=1e-5)
    assert np.allclose(a, again, atol=1e-6) and a @ other < 0.99
    assert np.linalg.norm(mean_identity([a, other])) == pytest.approx(1, abs=1e-5)


def test_a_missing_recogniser_says_where_users_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"w600k_r50\.onnx not found.*buffalo_l"):
        ArcFaceRecogniser(tmp_path / "w600k_r50.onnx")


def test_the_face_enhancer_keeps_the_crop_layout(tmp_path):
    enh = FaceEnhancer(onnx_graphs.enhancer_like(tmp_path / "GFPGANv1.4.onnx", size=64))
    face = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    out = enh.enhance(face)
    assert (enh.template, enh.size, out.shape, out.dtype) == ("ffhq", 64, (64, 64, 3), np.uint8)
    assert np.corrcoef(out.ravel(), face.ravel())[0, 1] > 0.9


def test_enhancer_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"GFPGANv1\.4\.onnx or GPEN-BFR-512\.onnx.*FaceFusion"):
        FaceEnhancer(tmp_path / "GPEN-BFR-512.onnx")
    with pytest.raises(ValueError, match=r"w600k\.onnx: input .*GFPGAN/GPEN"):
        FaceEnhancer(onnx_graphs.arcface_like(tmp_path / "w600k.onnx"))


def test_every_registered_swapper_meets_the_interface(tmp_path, faceset):
    models = {
        "inswapper": onnx_graphs.inswapper_like(tmp_path / "inswapper_128.onnx"),
        "dfm": onnx_graphs.dfm_like(tmp_path / "person.dfm", size=64),
    }
    recogniser = onnx_graphs.arcface_like(tmp_path / "w600k_r50.onnx")
    for name in SWAPPERS:
        sw = build_swapper(name, faceset, model=models.get(name), recogniser=recogniser)
        n = sw.size
        face, mask = sw.swap(np.full((n, n, 3), 100, np.uint8), template(sw.template, n))
        assert sw.name == name and sw.template in ("arcface", "ffhq")
        assert face.shape == (n, n, 3) and face.dtype == np.uint8
        assert mask.shape == (n, n) and mask.dtype == np.float32 and 0 <= mask.min() <= mask.max() <= 1


def test_faceset_reports_a_missing_crop_by_name(tmp_path):
    folder = face_scenes.write_faceset(tmp_path / "face")
    spec = json.loads((folder / "face.json").read_text(encoding="utf-8"))
    (folder / spec["faces"][1]["file"]).unlink()
    with pytest.raises(FaceSetError, match=r"02\.png missing"):
        FaceSet.load(folder)
