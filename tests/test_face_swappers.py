"""The swappers behind `build_swapper` (classic, inswapper, dfm), the ArcFace recogniser, the face
enhancer, and the compositing helpers, on tiny random graphs with the real models' interfaces."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import numpy_helper

from runtime.face.blend import face_region_mask, match_colour, mouth_mask
from runtime.face.enhance import FaceEnhancer
from runtime.face.faceset import FaceSet, FaceSetError
from runtime.face.recognise import ArcFaceRecogniser
from runtime.face.swappers import ClassicSwapper, DFMSwapper, InswapperSwapper, build_swapper, read_emap
from tests import face_scenes as fs
from tests import onnx_graphs


@pytest.fixture(scope="module")
def faceset(tmp_path_factory):
    return FaceSet.load(fs.write_faceset(tmp_path_factory.mktemp("face")))


@pytest.fixture
def crop():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)


POINTS128 = np.array([[46.3, 51.7], [81.5, 51.5], [64.0, 71.7], [49.5, 92.4], [78.7, 92.2]])


def test_inswapper_projects_the_identity_through_the_graphs_emap(tmp_path, crop):
    import onnx

    model = onnx_graphs.inswapper_like(tmp_path / "inswapper_128.onnx")
    identity = np.random.default_rng(1).normal(size=512).astype(np.float32)
    identity /= np.linalg.norm(identity)
    sw = InswapperSwapper(model, identity)
    emap = numpy_helper.to_array(next(i for i in onnx.load(str(model)).graph.initializer if i.name == "emap"))
    expected = identity @ emap
    assert np.allclose(sw.latent.ravel(), expected / np.linalg.norm(expected), atol=1e-5)
    assert np.array_equal(read_emap(model), emap)
    face, mask = sw.swap(crop, POINTS128)
    assert (sw.template, sw.size, face.shape, face.dtype) == ("arcface", 128, (128, 128, 3), np.uint8)
    assert mask.shape == (128, 128) and mask.min() >= 0 and mask.max() <= 1
    other, _ = InswapperSwapper(model, -identity).swap(crop, POINTS128)
    assert np.abs(other.astype(int) - face).mean() > 1  # another identity, another face


def test_a_graph_without_the_inswapper_interface_is_refused_by_name(tmp_path):
    model = onnx_graphs.arcface_like(tmp_path / "not_a_swapper.onnx")
    with pytest.raises(ValueError, match=r"not_a_swapper\.onnx"):
        InswapperSwapper(model, np.ones(512, np.float32))


def test_missing_model_files_say_where_users_get_them(tmp_path, faceset):
    with pytest.raises(FileNotFoundError, match="insightface"):
        InswapperSwapper(tmp_path / "inswapper_128.onnx", np.ones(512))
    with pytest.raises(FileNotFoundError, match="--swapper-model"):
        build_swapper("dfm", faceset)
    with pytest.raises(FaceSetError, match="--recogniser"):
        build_swapper("inswapper", faceset, model=tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="classic"):
        build_swapper("deepfake9000", faceset)


@pytest.mark.parametrize("morph", [True, False])
def test_dfm_models_swap_with_and_without_a_morph_input(tmp_path, morph):
    model = onnx_graphs.dfm_like(tmp_path / "person.dfm", size=64, morph=morph)
    sw = DFMSwapper(model, morph=0.5)
    face = np.full((64, 64, 3), 200, np.uint8)
    out, mask = sw.swap(face, POINTS128 / 2)
    assert (sw.size, out.shape, mask.shape) == (64, (64, 64, 3), (64, 64))
    celeb = (1 - 200 / 255) * (0.5 if morph else 1.0)  # what the test graph computes
    assert abs(out.mean() / 255 - celeb) < 0.01
    assert mask.min() > 0 and mask.max() < 1


def test_a_non_dfm_graph_is_refused(tmp_path):
    with pytest.raises(ValueError, match="DeepFaceLive"):
        DFMSwapper(onnx_graphs.enhancer_like(tmp_path / "x.dfm"))


def test_classic_picks_the_persona_face_nearest_in_pose_and_holds_it(faceset):
    sw = ClassicSwapper(faceset)
    yaws = [f.yaw for f in faceset.faces]
    right, left = int(np.argmax(yaws)), int(np.argmin(yaws))
    assert sw.choose(yaws[right] + 1, 0) == right
    assert sw.choose((yaws[right] + yaws[left]) / 2 + 1, 0) == right  # near the middle: no flicker
    assert sw.choose(yaws[left] - 1, 0) == left


def test_classic_returns_the_persona_where_the_live_points_are_the_persona_points(faceset):
    sw = ClassicSwapper(faceset, size=256)
    image, points, *_ = sw.faces[0]
    sw.current = 0
    face, mask = sw.swap(np.zeros_like(image), points)
    inside = mask > 0.9
    assert 0.2 < inside.mean() < 0.8
    assert np.abs(face.astype(int) - image)[inside].mean() < 2


def test_match_colour_moves_the_face_to_the_frames_light():
    rng = np.random.default_rng(0)
    src = np.clip(rng.normal(180, 20, (128, 128, 3)), 0, 255).astype(np.uint8)
    ref = np.clip(rng.normal(70, 10, (128, 128, 3)), 0, 255).astype(np.uint8)
    mask = face_region_mask(128, POINTS128)
    out = match_colour(src, ref, mask)
    inside = mask > 0.5
    assert abs(out[inside].mean() - ref[inside].mean()) < 5 < abs(src[inside].mean() - ref[inside].mean())
    assert np.array_equal(match_colour(src, ref, np.zeros((128, 128), np.float32)), src)


def test_mouth_mask_covers_the_mouth_not_the_eyes():
    m = mouth_mask(128, POINTS128)
    assert m[92, 64] > 0.9 and m[51, 46] < 0.01


def test_arcface_recogniser_gives_unit_vectors_that_tell_faces_apart(tmp_path):
    rec = ArcFaceRecogniser(onnx_graphs.arcface_like(tmp_path / "w600k_r50.onnx"))
    a = rec.embed_aligned(fs.persona_image(), fs.five_points(fs.persona_image()))
    frame = fs.scene(fs.caller_face())
    b = rec.embed_aligned(frame, fs.five_points(frame))
    assert abs(np.linalg.norm(a) - 1) < 1e-5 and a.shape == (512,)
    assert a @ b < 0.999


def test_inswapper_identity_is_computed_from_the_crops_when_the_bundle_has_none(tmp_path, faceset):
    model = onnx_graphs.inswapper_like(tmp_path / "inswapper_128.onnx")
    rec = onnx_graphs.arcface_like(tmp_path / "w600k_r50.onnx")
    sw = build_swapper("inswapper", faceset, model=model, recogniser=rec)
    r = ArcFaceRecogniser(rec)
    mean = np.mean([r.embed_aligned(p.image, p.points) for p in faceset.faces], 0)
    expected = (mean / np.linalg.norm(mean)) @ read_emap(model)
    assert np.allclose(sw.latent.ravel(), expected / np.linalg.norm(expected), atol=1e-5)


def test_the_face_enhancer_keeps_the_crop_layout(tmp_path):
    enh = FaceEnhancer(onnx_graphs.enhancer_like(tmp_path / "GFPGANv1.4.onnx", size=64))
    face = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    out = enh.enhance(face)
    assert (enh.template, enh.size, out.shape, out.dtype) == ("ffhq", 64, (64, 64, 3), np.uint8)
    assert np.corrcoef(out.ravel(), face.ravel())[0, 1] > 0.9


def test_faceset_reports_a_missing_crop_by_name(tmp_path):
    folder = fs.write_faceset(tmp_path / "face")
    spec = json.loads((folder / "face.json").read_text(encoding="utf-8"))
    (folder / spec["faces"][1]["file"]).unlink()
    with pytest.raises(FaceSetError, match=r"02\.png missing"):
        FaceSet.load(folder)
