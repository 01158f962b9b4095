"""Stage `face_align`: photos -> every face found, aligned, measured and embedded.

    python -m pipelines.face_align [paths.data=DIR] [face_align.detector=yunet_mtcnn|mtcnn|face_alignment]
        [face_align.references=[me_passport.jpg]]

For each photo under `face_align.input` (jpg/png/webp/heic…, EXIF orientation applied, any size:
big ones are downscaled for detection and coordinates mapped back) and each face in it (up to
`max_faces`, largest first): box, detector score, five points (68 with face-alignment), the crops
aligned by similarity transform to the ArcFace 112/128 template and an FFHQ-style 512 crop,
sharpness, exposure, size, yaw/pitch/roll, an identity embedding, and its cosine similarity to the
persona's identity: the mean of the reference photos' faces when `references` lists some, else of
the largest group of mutually similar faces. Photos that cannot be read or hold no face are kept in
the record with the reason; face_curate decides what to keep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from pipelines.face_align import quality
from pipelines.face_align.detectors import Face, build_detector
from pipelines.face_align.identity import build_embedder, identity_centre, largest_cluster, unit
from pipelines.face_align.images import UnreadablePhoto, decode
from pipelines.stage import StageError, log
from runtime.face.geometry import fit_similarity, pose, template, transform_points, warp_face
from runtime.face.measure import occlusion


@dataclass
class AlignResult:
    photos: list[dict]  # one per input photo: file, status (ok / unreadable / no_face), reason, size
    faces: list[dict]  # one per face: measurements (JSON-ready)
    embeddings: np.ndarray  # len(faces) x dim, unit rows, same order as faces
    crops: dict[str, dict[str, np.ndarray]]  # face id -> crop name -> BGR crop (empty with a sink)
    identity: dict  # how the persona was found, and the centre embedding
    report: dict  # counts


def measure(image: np.ndarray, face: Face, crops_cfg: DictConfig, quality_crop: str) -> tuple[dict, dict]:
    """The aligned crops of one face and its measurements."""
    crops, residual = {}, {}
    for name, c in crops_cfg.items():
        tpl = template(c.template, int(c.size))
        m = fit_similarity(face.points, tpl)
        crops[name] = warp_face(image, m, int(c.size))
        residual[name] = float(np.linalg.norm(transform_points(m, face.points) - tpl, axis=1).mean() / c.size)
    q = crops[quality_crop]
    box = face.box
    iod = float(np.hypot(*(face.points[1] - face.points[0])))
    rec = {
        "box": [round(float(v), 1) for v in box],
        "score": round(face.score, 4),
        "points": np.round(face.points, 2).tolist(),
        "landmarks68": None if face.landmarks68 is None else np.round(face.landmarks68, 2).tolist(),
        "landmark_source": face.source,
        "landmark_agreement": face.extra.get("landmark_agreement"),
        "size": {"box_w": float(box[2] - box[0]), "box_h": float(box[3] - box[1]), "eye_dist": iod},
        "sharpness": quality.sharpness(q),
        **quality.exposure(q),
        "occlusion": occlusion(q),
        **pose(face.points),
        "align_residual": residual,  # mean point distance to the template, in crop widths
    }
    return crops, rec


CropSink = Callable[[str, dict[str, np.ndarray]], None]


def run(cfg: DictConfig, photos: Sequence[Path], crop_sink: CropSink | None = None) -> AlignResult:
    """Detect, align, measure and embed every face in `photos`. Photos are decoded one at a time;
    each face's crops go to `crop_sink(face_id, crops)` when given (so large sets never sit in
    memory as pixels), else into `result.crops`."""
    c = cfg.face_align
    root = Path(c.input)
    if c.quality_crop not in c.crops:
        raise StageError(
            f"face_align.quality_crop={c.quality_crop} is not one of face_align.crops {list(c.crops)}"
        )
    embedder = build_embedder(c)
    embed_crop = next(
        (n for n, k in c.crops.items() if k.template == "arcface" and int(k.size) == embedder.size), None
    )
    if embed_crop is None:
        raise StageError(
            f"face_align.crops needs an arcface crop of size {embedder.size} for the {embedder.name} embedder"
        )
    detector = build_detector(c)

    photo_rows, faces, embs, crops = [], [], [], {}
    for path in tqdm(photos, desc="face_align", unit="photo", disable=None):
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        row = {"file": name, "status": "ok", "reason": ""}
        photo_rows.append(row)
        try:
            image, info = decode(path)
        except UnreadablePhoto as e:
            row.update(status="unreadable", reason=str(e))
            continue
        row.update(info)
        found = detector.detect(image, int(c.detect_max_side))
        row["detect_scale"] = round(min(1.0, c.detect_max_side / max(image.shape[:2])), 4)
        found.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        row["faces_found"] = len(found)
        if len(found) > c.max_faces:
            row["reason"] = f"{len(found)} faces: only the {c.max_faces} largest measured"
            found = found[: c.max_faces]
        if not found:
            row.update(status="no_face", reason="no face detected")
            continue
        for k, face in enumerate(found):
            fid = f"f{len(faces):05d}"
            face_crops, rec = measure(image, face, c.crops, c.quality_crop)
            embs.append(embedder.embed(face_crops[embed_crop]))
            if crop_sink is None:
                crops[fid] = face_crops
            else:
                crop_sink(fid, face_crops)
            faces.append({"id": fid, "file": name, "index": k, "faces_in_photo": len(found), **rec})

    emb = np.asarray(embs, np.float32).reshape(len(embs), embedder.dim)
    identity = find_identity(c, faces, emb, {r["file"]: r for r in photo_rows})
    sims = emb @ identity["centre"] if len(emb) else np.zeros(0)
    for f, s in zip(faces, sims, strict=True):
        f["identity_sim"] = float(s)
    best = {}
    for i, f in enumerate(faces):
        if f["file"] not in best or sims[i] > sims[best[f["file"]]]:
            best[f["file"]] = i
    for i, f in enumerate(faces):
        f["best_in_photo"] = best[f["file"]] == i

    statuses = [r["status"] for r in photo_rows]
    report = {
        "photos": len(photo_rows),
        "photos_with_faces": statuses.count("ok"),
        "unreadable": statuses.count("unreadable"),
        "no_face": statuses.count("no_face"),
        "faces": len(faces),
        "detector": c.detector,
        "embedder": embedder.name,
        "identity_method": identity["method"],
        "identity_members": len(identity["members"]),
    }
    return AlignResult(photo_rows, faces, emb, crops, identity, report)


def find_identity(c: DictConfig, faces: list[dict], emb: np.ndarray, photos: dict) -> dict:
    """The persona's identity centre: from the reference photos' largest faces when configured,
    else from the largest cluster of similar faces."""
    if len(faces) == 0:
        return {"method": "none", "members": [], "centre": np.zeros(emb.shape[1], np.float32)}
    refs = list(c.references or [])
    if refs:
        missing = [r for r in refs if r not in photos]
        if missing:
            raise StageError(
                f"face_align.references {missing} are not photos in {c.input}: list file names relative to it"
            )
        members = []
        for r in refs:
            idx = [i for i, f in enumerate(faces) if f["file"] == r]
            if not idx:
                raise StageError(
                    f"reference photo {r} gives no face ({photos[r]['reason'] or photos[r]['status']}): "
                    "choose a clear, frontal photo of the persona alone"
                )
            members.append(max(idx, key=lambda i: faces[i]["size"]["box_w"] * faces[i]["size"]["box_h"]))
        method = "references"
    else:
        members = list(largest_cluster(emb, float(c.identity_cluster_threshold)))
        method = "largest_cluster"
        if len(members) < 2:
            log.warning(
                "face_align: no two faces look alike; the persona is guessed from one face. "
                "List reference photos in face_align.references"
            )
    members = np.asarray(members, int)
    return {
        "method": method,
        "members": [faces[i]["id"] for i in members],
        "centre": unit(identity_centre(emb, members)).astype(np.float32),
    }
