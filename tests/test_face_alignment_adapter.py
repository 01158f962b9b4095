"""The face-alignment (FAN) path runs from local files only. Real weights are not available offline,
so the networks here are randomly initialised: this checks the plumbing (local files found, no
download, 68 points reduced to five, coordinates mapped back from the detection copy), not accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipelines.face_align.detectors import build_detector, five_from_68

torch = pytest.importorskip("torch")
pytest.importorskip("face_alignment")


def test_five_points_from_68():
    lm = np.zeros((68, 2))
    lm[36:42] = [10, 20]
    lm[42:48] = [30, 20]
    lm[30], lm[48], lm[54] = [20, 30], [12, 40], [28, 40]
    assert np.allclose(five_from_68(lm), [[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]])


@pytest.mark.slow  # ~12 s: builds FAN and runs it once on a CPU
def test_fan_detector_runs_from_local_files(tmp_path, monkeypatch):
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    torch.manual_seed(0)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(FAN(4).state_dict(), tmp_path / "hub" / "checkpoints" / "2DFAN4-11f355bf06.pth.tar")
    torch.save(s3fd().state_dict(), tmp_path / "s3fd.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)  # undo set_dir after the test
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    cfg = OmegaConf.create(
        {
            "detector": "face_alignment",
            "detectors": {
                "face_alignment": {
                    "torch_home": str(tmp_path),
                    "path_to_detector": str(tmp_path / "s3fd.pth"),
                    "face_detector": "sfd",
                }
            },
        }
    )
    det = build_detector(cfg)
    # a random S3FD finds hundreds of "faces": give FAN the one box a real detector would
    box_small = np.array([[90.0, 31.0, 135.0, 87.0, 0.99]])
    monkeypatch.setattr(det.fa.face_detector, "detect_from_image", lambda img: box_small)
    image = np.full((1024, 1024, 3), 128, np.uint8)
    (face,) = det.detect(image, max_side=256)  # detection copy at scale 1/4
    assert face.source == "fan68" and face.landmarks68.shape == (68, 2)
    assert np.allclose(face.box, box_small[0, :4] * 4)
    assert np.allclose(face.points, five_from_68(face.landmarks68))
    assert (face.landmarks68 >= 0).all() and (face.landmarks68 <= 1024).all()
