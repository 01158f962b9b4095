"""Stage `face_curate`: face_align's measured faces -> the persona's best N aligned faces.

    python -m pipelines.face_curate [paths.data=DIR] [face_curate.n=15]

Every face is judged in this order, and the first rule it fails is its reason:
1. identity: cosine to the persona below `other_person` -> another person; where a photo holds
   several faces only the one most like the persona is a candidate;
2. quality: tiny (inter-eye distance), blurred (normalised Laplacian variance), dark / overexposed /
   clipped, occluded (lower face unlike the skin), weak detection;
3. identity outlier: the persona is plausible but not certain (below `outlier`);
4. near-duplicate of a better face (embedding cosine and perceptual hash of the aligned crops);
5. the best N are chosen greedily, each step taking the face with the highest quality plus a bonus
   when it fills an empty cell of the yaw x pitch grid; the rest are "not among the best N".

Outputs: the kept faces' aligned crops, their landmarks, the persona's mean identity embedding
(the average one-shot swappers take), and report.json with every input photo's decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from omegaconf import DictConfig, OmegaConf

KEPT, REJECTED = "kept", "rejected"


@dataclass
class CurateResult:
    kept: list[dict]  # the chosen faces (face_align records + rank, quality, grid cell), best first
    identity: np.ndarray  # unit mean embedding of the kept faces
    report: dict  # every photo and face with its decision and reason
    metrics: dict


def dhash(crop: np.ndarray) -> int:
    """64-bit difference hash of a crop (brightness gradients on a 9x8 thumbnail)."""
    g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    g = cv2.resize(cv2.equalizeHist(g), (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (g[:, 1:] > g[:, :-1]).ravel()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def grid_cell(face: dict, grid: DictConfig) -> tuple[int, int]:
    """(yaw column, pitch row) of a face in the coverage grid; poses beyond the edges go to the
    outer cells."""
    ye, pe = list(grid.yaw_edges), list(grid.pitch_edges)
    col = int(np.clip(np.searchsorted(ye, face["yaw"], side="right") - 1, 0, len(ye) - 2))
    row = int(np.clip(np.searchsorted(pe, face["pitch"], side="right") - 1, 0, len(pe) - 2))
    return col, row


def quality_failures(f: dict, t: DictConfig) -> list[tuple[str, str]]:
    """Every quality threshold the face misses, as (kind, reason)."""
    out = []
    if f["size"]["eye_dist"] < t.min_eye_dist:
        out.append(("tiny", f"tiny (eyes {f['size']['eye_dist']:.0f} px apart < {t.min_eye_dist})"))
    if f["sharpness"] < t.min_sharpness:
        out.append(("blurred", f"blurred (sharpness {f['sharpness']:.0f} < {t.min_sharpness})"))
    if f["luma"] < t.min_luma:
        out.append(("dark", f"dark (mean luma {f['luma']:.0f} < {t.min_luma})"))
    if f["luma"] > t.max_luma:
        out.append(("overexposed", f"overexposed (mean luma {f['luma']:.0f} > {t.max_luma})"))
    if f["clipped"] > t.max_clipped:
        out.append(
            ("clipped", f"clipped ({f['clipped']:.0%} of face pixels black or white > {t.max_clipped:.0%})")
        )
    if f.get("occlusion", 0.0) > t.max_occlusion:
        out.append(
            (
                "occluded",
                f"occluded ({f['occlusion']:.0%} of the lower face unlike skin > {t.max_occlusion:.0%})",
            )
        )
    if f["score"] < t.min_score:
        out.append(("weak_detection", f"weak detection (score {f['score']:.2f} < {t.min_score})"))
    return out


def quality_scores(faces: list[dict], w: DictConfig) -> np.ndarray:
    """A 0-1 quality per face: sharpness by rank within the set (it depends on the camera),
    identity, size, exposure and detector score, weighted by `w`."""
    if not faces:
        return np.zeros(0)
    sharp = np.array([f["sharpness"] for f in faces])
    sharp_rank = (np.argsort(np.argsort(sharp)) + 1) / len(faces)
    ident = np.clip([f["identity_sim"] for f in faces], 0, 1)
    size = np.clip([f["size"]["eye_dist"] / 60.0 for f in faces], 0, 1)
    expo = np.clip([1 - abs(f["luma"] - 128) / 128 - f["clipped"] for f in faces], 0, 1)
    score = np.clip([f["score"] for f in faces], 0, 1)
    total = w.sharpness + w.identity + w.size + w.exposure + w.score
    q = w.sharpness * sharp_rank + w.identity * ident + w.size * size + w.exposure * expo + w.score * score
    return q / total


def select(
    cands: list[int], quality: np.ndarray, cells: list[tuple[int, int]], n: int, bonus: float
) -> list[int]:
    """Greedy best N: each step takes the candidate with the highest quality, plus `bonus` when its
    pose cell is still empty."""
    chosen, filled, left = [], set(), list(cands)
    while left and len(chosen) < n:
        best = max(left, key=lambda i: quality[i] + (bonus if cells[i] not in filled else 0.0))
        chosen.append(best)
        filled.add(cells[best])
        left.remove(best)
    return chosen


def run(
    cfg: DictConfig,
    photos: list[dict],
    faces: list[dict],
    embeddings: np.ndarray,
    crops: Mapping[str, np.ndarray],
) -> CurateResult:
    """Decide every face and photo from face_align's records; `crops` holds each face's aligned
    crop (any size) for the near-duplicate hash."""
    c = cfg.face_curate
    t = c.thresholds
    decision: dict[str, tuple[str, str, str]] = {}  # face id -> (kept/rejected, kind, reason)
    by_id = {f["id"]: i for i, f in enumerate(faces)}

    # 1-3: identity and quality, face by face
    survivors = []
    for f in faces:
        sim = f["identity_sim"]
        if sim < t.other_person:
            decision[f["id"]] = (
                REJECTED,
                "other_person",
                f"other person (identity {sim:.2f} < {t.other_person})",
            )
            continue
        if not f["best_in_photo"]:
            decision[f["id"]] = (
                REJECTED,
                "second_face",
                "a second face like the persona in the photo; the closer match is used",
            )
            continue
        failed = quality_failures(f, t)
        if failed:
            decision[f["id"]] = (REJECTED, failed[0][0], "; ".join(r for _, r in failed))
            continue
        if sim < t.outlier:
            decision[f["id"]] = (
                REJECTED,
                "identity_outlier",
                f"identity outlier (identity {sim:.2f} < {t.outlier})",
            )
            continue
        survivors.append(by_id[f["id"]])

    quality = np.zeros(len(faces))
    quality[survivors] = quality_scores([faces[i] for i in survivors], c.weights)

    # 4: near-duplicates, the better face survives
    hashes = {i: dhash(crops[faces[i]["id"]]) for i in survivors}
    distinct: list[int] = []
    for i in sorted(survivors, key=lambda i: -quality[i]):
        dup = next(
            (
                j
                for j in distinct
                if float(embeddings[i] @ embeddings[j]) > t.duplicate_cosine
                and hamming(hashes[i], hashes[j]) <= t.duplicate_hash_bits
            ),
            None,
        )
        if dup is None:
            distinct.append(i)
        else:
            cos, bits = float(embeddings[i] @ embeddings[dup]), hamming(hashes[i], hashes[dup])
            decision[faces[i]["id"]] = (
                REJECTED,
                "near_duplicate",
                f"near-duplicate of {faces[dup]['file']} (cosine {cos:.3f}, hash {bits}/64 bits differ)",
            )

    # 5: best N over quality and pose coverage
    cells = [grid_cell(f, c.grid) for f in faces]
    chosen = select(distinct, quality, cells, int(c.n), float(c.coverage_bonus))
    for rank, i in enumerate(chosen, start=1):
        decision[faces[i]["id"]] = (
            KEPT,
            "kept",
            f"rank {rank} of {len(chosen)} (quality {quality[i]:.2f}, pose cell {cells[i]})",
        )
    for i in sorted(set(distinct) - set(chosen), key=lambda i: -quality[i]):
        decision[faces[i]["id"]] = (
            REJECTED,
            "not_in_best_n",
            f"not among the best {c.n} (quality {quality[i]:.2f})",
        )

    kept = [
        {**faces[i], "rank": r, "quality": float(quality[i]), "grid_cell": list(cells[i])}
        for r, i in enumerate(chosen, start=1)
    ]
    identity = (
        embeddings[chosen].mean(0) if chosen else np.zeros(embeddings.shape[1] if embeddings.ndim == 2 else 0)
    )
    identity = (identity / (np.linalg.norm(identity) or 1.0)).astype(np.float32)
    report = photo_report(photos, faces, decision, quality, cells)
    report["summary"] = summary(report, kept, c)
    return CurateResult(kept, identity, report, metrics(report, kept, c))


def photo_report(photos, faces, decision, quality, cells) -> dict:
    """Every input photo with its decision and reason, and its faces with theirs."""
    faces_of: dict[str, list[int]] = {}
    for i, f in enumerate(faces):
        faces_of.setdefault(f["file"], []).append(i)
    rows = []
    for p in photos:
        idx = faces_of.get(p["file"], [])
        face_rows = [
            {
                "id": faces[i]["id"],
                "decision": decision[faces[i]["id"]][0],
                "kind": decision[faces[i]["id"]][1],
                "reason": decision[faces[i]["id"]][2],
                "identity_sim": round(faces[i]["identity_sim"], 3),
                "box": faces[i]["box"],
                "yaw": round(faces[i]["yaw"], 1),
                "pitch": round(faces[i]["pitch"], 1),
                "roll": round(faces[i]["roll"], 1),
                "sharpness": round(faces[i]["sharpness"], 1),
                "luma": round(faces[i]["luma"], 1),
                "quality": round(float(quality[i]), 3),
                "grid_cell": list(cells[i]),
            }
            for i in idx
        ]
        kept = [r for r in face_rows if r["decision"] == KEPT]
        if p["status"] != "ok":
            verdict, kind, reason = REJECTED, p["status"], p["reason"] or p["status"]
        elif kept:
            verdict, kind, reason = KEPT, "kept", kept[0]["reason"]
            others = len(face_rows) - 1
            if others:
                reason += f"; {others} other face{'s' if others > 1 else ''} in the photo rejected"
        else:
            best = max(idx, key=lambda i: faces[i]["identity_sim"])
            _, kind, reason = decision[faces[best]["id"]]
            if len(idx) > 1 and kind == "other_person":
                reason = (
                    f"{len(idx)} faces, none the persona (closest identity {faces[best]['identity_sim']:.2f})"
                )
            verdict = REJECTED
        row = {"file": p["file"], "decision": verdict, "kind": kind, "reason": reason}
        if p.get("reason") and p["status"] == "ok":
            row["note"] = p["reason"]
        row["faces"] = face_rows
        rows.append(row)
    return {"photos": rows}


def summary(report: dict, kept: list[dict], c: DictConfig) -> dict:
    rows = report["photos"]
    grid_filled = sorted({tuple(f["grid_cell"]) for f in kept})
    cols, rows_n = len(c.grid.yaw_edges) - 1, len(c.grid.pitch_edges) - 1
    return {
        "photos": len(rows),
        "kept": sum(r["decision"] == KEPT for r in rows),
        "rejected": sum(r["decision"] == REJECTED for r in rows),
        "rejected_by_reason": dict(Counter(r["kind"] for r in rows if r["decision"] == REJECTED)),
        "grid_cells_filled": len(grid_filled),
        "grid_cells": cols * rows_n,
        "yaw_edges": list(c.grid.yaw_edges),
        "pitch_edges": list(c.grid.pitch_edges),
        "n": int(c.n),
        "thresholds": OmegaConf.to_container(c.thresholds, resolve=True),
    }


def metrics(report: dict, kept: list[dict], c: DictConfig) -> dict:
    s = report["summary"]
    return {
        "photos": s["photos"],
        "kept": s["kept"],
        "rejected": s["rejected"],
        "grid_cells_filled": s["grid_cells_filled"],
        "mean_quality_kept": round(float(np.mean([f["quality"] for f in kept])), 4) if kept else 0.0,
        "mean_identity_kept": round(float(np.mean([f["identity_sim"] for f in kept])), 4) if kept else 0.0,
    }
