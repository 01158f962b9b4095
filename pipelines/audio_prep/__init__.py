"""Stage `audio_prep`: recordings and WeChat voice messages -> clean-cut training pieces.

    python -m pipelines.audio_prep paths.data=DIR [audio_prep.sample_rate=40000]

Every file under `paths.audio` (wav, flac, mp3, ogg/opus, m4a/aac via PyAV, WeChat SILK `.silk`/`.amr`
and PyWxDump's `.wav`) is decoded by content, made mono, resampled to the model rate, high-passed
(5th-order Butterworth, 48 Hz) and cut on silence (RVC-style RMS slicer); each voiced region becomes
~3.7 s pieces with 0.3 s overlap, loudness-normalised per source. Clipped, silent and too-short pieces
are dropped with a reason. Voice messages listed in the ingested message table are attributed to
their sender: only the persona's are used. Every input file ends up in the report, kept or dropped.

Outputs (folder, written atomically): `wav/<piece>.wav` (model rate), `wav16k/<piece>.wav`,
`pieces.jsonl` (one row per kept piece), `report.json`, `metrics.json`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from pipelines import audio_dsp, audio_io
from pipelines.stage import StageError

MODEL_RATES = (32000, 40000, 48000)
FEATURE_RATE = 16000


@dataclass
class Source:
    path: Path
    rel: str  # path relative to the audio folder, as the report names it
    origin: str = "recording"  # recording | voice_message
    is_target: bool = True


@dataclass
class PrepResult:
    pieces: list[dict]
    report: dict
    files: list[dict] = field(default_factory=list)


WritePiece = Callable[[str, np.ndarray, np.ndarray], None]  # (piece id, model-rate audio, 16 kHz audio)


def attribute(files: list[tuple[Path, str]], messages=None) -> list[Source]:
    """Sources with speaker attribution: a file named after a voice message's media_ref (file name or
    stem) or msg_id belongs to that message's sender; other files are recordings of the persona."""
    owner: dict[str, bool] = {}
    if messages is not None and len(messages):
        voice = messages[messages["kind"] == "voice"]
        refs = voice["media_ref"].fillna("").astype(str).str.replace("\\", "/", regex=False)
        for ref, mid, tgt in zip(refs, voice["msg_id"].astype(str), voice["is_target"], strict=True):
            for key in {Path(ref).name, Path(ref).stem, mid} - {""}:
                owner[key.lower()] = bool(tgt)
    out = []
    for path, rel in files:
        key = next((k for k in (path.name.lower(), path.stem.lower()) if k in owner), None)
        if key is None:
            out.append(Source(path, rel))
        else:
            out.append(Source(path, rel, "voice_message", owner[key]))
    return out


def run(cfg: DictConfig, sources: list[Source], write_piece: WritePiece) -> PrepResult:
    """Decode, slice and chunk every source; `write_piece` receives each kept piece."""
    c = cfg.audio_prep
    sr = int(c.sample_rate)
    if sr not in MODEL_RATES:
        raise StageError(f"audio_prep.sample_rate={sr}: choose one of {MODEL_RATES} (the voice model's rate)")
    sp = audio_dsp.SlicerParams(**{k: c.slicer[k] for k in c.slicer})
    pieces: list[dict] = []
    files: list[dict] = []
    drops: Counter = Counter()
    by_source: Counter = Counter()
    seconds_in = seconds_kept = 0.0
    for i, src in enumerate(sources, start=1):
        sid = f"A{i:03d}"
        entry = {"source": sid, "file": src.rel, "origin": src.origin}
        if not src.is_target:
            files.append(
                {
                    **entry,
                    "status": "dropped",
                    "reason": "not_persona",
                    "detail": "voice message from someone other than the persona",
                }
            )
            drops["not_persona"] += 1
            continue
        try:
            dec = audio_io.decode(src.path)
        except audio_io.AudioDecodeError as e:
            files.append({**entry, "status": "dropped", "reason": e.reason, "detail": str(e)})
            drops[e.reason] += 1
            continue
        except OSError as e:
            files.append({**entry, "status": "dropped", "reason": "unreadable", "detail": str(e)})
            drops["unreadable"] += 1
            continue
        dur = dec.audio.shape[0] / dec.sr
        seconds_in += dur
        entry |= {
            "container": dec.container,
            "sample_rate": dec.sr,
            "channels": int(dec.audio.shape[1]),
            "seconds": round(dur, 3),
        }
        if dec.note:
            entry["note"] = dec.note
        kept, piece_drops = _prepare(src, sid, dec, sr, c, sp, write_piece)
        for r in piece_drops:
            drops[f"piece_{r}"] += 1
        if not kept:
            reason = "all_silence" if not piece_drops else "no_piece_kept"
            detail = (
                f"no sound above {sp.threshold_db} dB"
                if reason == "all_silence"
                else f"every piece dropped: {dict(Counter(piece_drops))}"
            )
            files.append({**entry, "status": "dropped", "reason": reason, "detail": detail})
            drops[reason] += 1
            continue
        sec = _union_seconds([(p["start_s"], p["end_s"]) for p in kept])  # overlaps count once
        seconds_kept += sec
        by_source[sid] = len(kept)
        files.append(
            {
                **entry,
                "status": "kept",
                "pieces": len(kept),
                "pieces_dropped": dict(Counter(piece_drops)),
                "seconds_kept": round(sec, 3),
            }
        )
        pieces.extend(kept)
    report = {
        "sample_rate": sr,
        "files_in": len(sources),
        "files_kept": sum(f["status"] == "kept" for f in files),
        "minutes_in": round(seconds_in / 60, 3),
        "minutes_kept": round(seconds_kept / 60, 3),
        "pieces": len(pieces),
        "pieces_by_source": dict(by_source),
        "drops_by_reason": dict(sorted(drops.items())),
        "files": files,
    }
    return PrepResult(pieces, report, files)


def _prepare(src, sid, dec, sr, c, sp, write_piece) -> tuple[list[dict], list[str]]:
    x = audio_io.resample(audio_io.to_mono(dec.audio), dec.sr, sr)
    clip = audio_io.resample(audio_io.to_mono(np.abs(dec.audio) >= 0.99).astype(np.float32), dec.sr, sr) > 0.5
    x = audio_dsp.highpass(x, sr, float(c.highpass_hz))
    regions = audio_dsp.slice_on_silence(x, sr, sp)
    candidates, drops = [], []
    for r, (s0, e0) in enumerate(regions):
        for k, (s, e) in enumerate(audio_dsp.chunk(s0, e0, sr, float(c.piece_s), float(c.overlap_s))):
            seg = x[s:e]
            if (e - s) / sr < float(c.min_piece_s):
                drops.append("too_short")
            elif audio_dsp.rms_db(seg) < float(c.silent_db):
                drops.append("silent")
            elif float(clip[s:e].mean()) > float(c.max_clipped_fraction):
                drops.append("clipped")
            else:
                candidates.append((f"{sid}_{r:03d}_{k:02d}", s, e))
    if not candidates:
        return [], drops
    # one gain per source, from the loudness of what is kept (silence does not count)
    kept_audio = np.concatenate([x[s:e] for _, s, e in candidates])
    lufs = audio_dsp.loudness_lufs(kept_audio, sr)
    gain = 10 ** ((float(c.loudness_lufs) - lufs) / 20) if np.isfinite(lufs) else 1.0
    out = []
    for pid, s, e in candidates:
        y = x[s:e] * gain
        peak = float(np.max(np.abs(y)))
        if peak > float(c.peak_limit):
            y = y * (float(c.peak_limit) / peak)
        y16 = audio_io.resample(y, sr, FEATURE_RATE)
        write_piece(pid, y.astype(np.float32), y16)
        out.append(
            {
                "piece": pid,
                "source": sid,
                "file": src.rel,
                "origin": src.origin,
                "start_s": round(s / sr, 4),
                "end_s": round(e / sr, 4),
                "seconds": round((e - s) / sr, 4),
                "gain_db": round(20 * np.log10(gain), 2),
                "source_lufs": round(lufs, 2) if np.isfinite(lufs) else None,
                "rms_db": round(audio_dsp.rms_db(y), 2),
                "peak": round(float(np.max(np.abs(y))), 4),
            }
        )
    return out, drops


def _union_seconds(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for s, e in sorted(spans):
        total += max(0.0, e - max(s, end))
        end = max(end, e)
    return total


def metrics(report: dict) -> dict:
    keys = ("files_in", "files_kept", "minutes_in", "minutes_kept", "pieces")
    return {k: report[k] for k in keys} | {"drops": sum(report["drops_by_reason"].values())}


def list_audio(root: Path) -> list[tuple[Path, str]]:
    """Every file under the audio folder (any extension: unknown ones are reported, not skipped)."""
    return [
        (p, p.relative_to(root).as_posix())
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    ]
