"""runtime.face.geometry: templates, the similarity fit, warping and pasting back, checked with numbers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face.geometry import (
    ARCFACE_112,
    arcface_template,
    feather_mask,
    ffhq_template,
    fit_similarity,
    paste_full,
    paste_roi,
    roll_degrees,
    similarity_params,
    transform_points,
    warp_face,
)


def similarity(scale: float, degrees: float, tx: float, ty: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def test_templates_follow_the_insightface_convention():
    assert np.allclose(arcface_template(112), ARCFACE_112)
    assert np.allclose(arcface_template(224), ARCFACE_112 * 2)
    t128 = arcface_template(128)  # not a multiple of 112: scale by 128/128, shift x by 8
    assert np.allclose(t128[:, 0], ARCFACE_112[:, 0] + 8) and np.allclose(t128[:, 1], ARCFACE_112[:, 1])
    assert np.allclose(ffhq_template(256), ffhq_template(512) / 2)
    # the FFHQ crop is looser than ArcFace's: eyes closer together relative to the crop
    assert np.ptp(ffhq_template(112)[:2, 0]) < np.ptp(arcface_template(112)[:2, 0])


@pytest.mark.parametrize(
    ("scale", "degrees", "tx", "ty"),
    [(1.0, 0.0, 0.0, 0.0), (0.37, 23.0, 40.0, -12.0), (3.1, -71.0, 300.0, 95.5)],
)
def test_fit_recovers_a_known_similarity(scale, degrees, tx, ty):
    true = similarity(scale, degrees, tx, ty)
    photo_points = transform_points(cv2.invertAffineTransform(true), ARCFACE_112)  # where a face would be
    m = fit_similarity(photo_points, ARCFACE_112)
    assert np.allclose(m, true, atol=1e-9)
    s, rot, t = similarity_params(m)
    assert s == pytest.approx(scale) and rot == pytest.approx(degrees) and np.allclose(t, [tx, ty])


def test_fit_is_least_squares_under_noise_and_never_reflects():
    rng = np.random.default_rng(0)
    true = similarity(0.8, 12.0, 5.0, 7.0)
    src = transform_points(cv2.invertAffineTransform(true), ARCFACE_112) + rng.normal(0, 0.3, (5, 2))
    m = fit_similarity(src, ARCFACE_112)
    assert np.abs(m - true).max() < 0.05 * np.abs(true).max()
    ref, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), ARCFACE_112.astype(np.float32))
    assert np.allclose(m, ref, atol=1e-3)  # same answer as OpenCV's least squares
    mirrored = ARCFACE_112 * [-1, 1]  # a reflection cannot be fitted: the determinant stays positive
    assert np.linalg.det(fit_similarity(mirrored, ARCFACE_112)[:, :2]) > 0


def dots(points: np.ndarray, shape=(480, 640)) -> np.ndarray:
    img = np.zeros((*shape, 3), np.uint8)
    for x, y in points:
        cv2.circle(
            img, (round(x * 8), round(y * 8)), 5 * 8, (255, 255, 255), -1, lineType=cv2.LINE_AA, shift=3
        )
    return img


def centroids(img: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    n, labels = cv2.connectedComponents((g > 30).astype(np.uint8))
    out = []
    for k in range(1, n):
        ys, xs = np.nonzero(labels == k)
        w = g[ys, xs]
        out.append([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])
    return np.array(sorted(out, key=lambda p: (round(p[1] / 10), p[0])))


@pytest.mark.parametrize("size", [112, 128, 512])
def test_warped_landmarks_land_on_the_template(size):
    """Dots drawn where a rotated, scaled face's five points are, warped with the fitted matrix,
    end up on the template (measured on the warped pixels, not on the points)."""
    tpl = arcface_template(size) if size != 512 else ffhq_template(512)
    true = similarity(size / 300, -28.0, 0.0, 0.0)
    pts = transform_points(cv2.invertAffineTransform(true), tpl) + np.array([250, 120])
    img = dots(pts)
    crop = warp_face(img, fit_similarity(pts, tpl), size)
    found = centroids(crop)
    expected = np.array(sorted(tpl.tolist(), key=lambda p: (round(p[1] / 10), p[0])))
    assert found.shape == (5, 2)
    assert np.abs(found - expected).max() < 0.01 * size


def test_roll_from_the_eye_line():
    pts = ARCFACE_112.copy()
    assert abs(roll_degrees(pts)) < 0.5  # the template's eyes are level to 0.3°
    rot = transform_points(similarity(1.0, 30.0, 0, 0), pts)
    assert roll_degrees(rot) == pytest.approx(30.0 + roll_degrees(pts), abs=1e-6)


def test_roi_paste_matches_the_full_frame_paste_and_touches_only_the_roi():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (360, 640, 3), np.uint8)
    pts = transform_points(similarity(1.6, 15.0, 250, 90), ARCFACE_112)  # a face mid-frame, tilted
    m = fit_similarity(pts, arcface_template(128))
    face = np.full((128, 128, 3), (10, 200, 30), np.uint8)
    mask = feather_mask(128)
    full = paste_full(frame, face, m, mask)
    roi = paste_roi(frame.copy(), face, m, mask)
    assert np.abs(full.astype(int) - roi.astype(int)).max() <= 1
    changed = np.argwhere((roi != frame).any(axis=2))
    corners = transform_points(cv2.invertAffineTransform(m), [[0, 0], [128, 0], [0, 128], [128, 128]])
    assert changed.size and (changed[:, 1] >= corners[:, 0].min() - 1).all()
    assert (changed[:, 1] <= corners[:, 0].max() + 1).all()
    assert (changed[:, 0] >= corners[:, 1].min() - 1).all() and (
        changed[:, 0] <= corners[:, 1].max() + 1
    ).all()
    centre = np.round(transform_points(cv2.invertAffineTransform(m), [[64, 64]])[0]).astype(int)
    assert tuple(roi[centre[1], centre[0]]) == (10, 200, 30)  # inside the mask: the new face


def test_feather_mask_is_cached_and_read_only():
    a, b = feather_mask(112), feather_mask(112)
    assert a is b and not a.flags.writeable
    assert a[56, 56] == pytest.approx(1.0, abs=1e-3) and a[0, 0] < 0.05
