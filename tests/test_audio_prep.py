"""audio_prep: every input decoded or dropped with a reason, the slicer cuts where the silences are,
pieces have the configured length, voice messages of other people are left out."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from pipelines import audio_dsp, audio_io
from pipelines.audio_prep import Source, attribute, run
from pipelines.audio_prep.__main__ import main as audio_prep
from pipelines.demo_data.audio import speech_like, write_demo_audio


def tone_bursts(sr: int, layout: list[tuple[str, float]]) -> np.ndarray:
    """Concatenate ('tone'|'sil', seconds) parts: a 200 Hz tone at -12 dBFS or digital silence."""
    parts = []
    for kind, sec in layout:
        n = int(sec * sr)
        t = np.arange(n) / sr
        parts.append(0.35 * np.sin(2 * np.pi * 200 * t) if kind == "tone" else np.zeros(n))
    return np.concatenate(parts).astype(np.float32)


def test_slicer_cuts_in_long_silences_and_keeps_at_most_max_silence():
    sr = 16000
    x = tone_bursts(
        sr,
        [("sil", 1.0), ("tone", 2.0), ("sil", 1.5), ("tone", 2.5), ("sil", 0.2), ("tone", 2.0), ("sil", 2.0)],
    )
    segs = audio_dsp.slice_on_silence(x, sr)
    assert len(segs) == 2, segs  # the 0.2 s gap is shorter than min_interval: no cut there
    (s1, e1), (s2, e2) = [(s / sr, e / sr) for s, e in segs]
    tol = 0.05  # RMS frames are 60 ms wide every 15 ms: edges move by up to half a frame + a hop
    # leading silence trimmed to <= 0.5 s; the 1.5 s silence (3.0-4.5 s) cut, 0.5 s kept each side
    assert s1 == pytest.approx(0.5, abs=tol)
    assert e1 == pytest.approx(3.5, abs=tol)
    assert s2 == pytest.approx(4.0, abs=tol)
    assert e2 == pytest.approx(9.2 + 0.5, abs=tol)  # trailing silence: 0.5 s kept


def test_slicer_does_not_cut_before_min_length_and_cuts_short_silence_at_its_quietest():
    sr = 16000
    x = tone_bursts(sr, [("tone", 1.0), ("sil", 0.6), ("tone", 2.0), ("sil", 0.7), ("tone", 2.0)])
    segs = [(s / sr, e / sr) for s, e in audio_dsp.slice_on_silence(x, sr)]
    # first silence comes after only 1.0 s (< 1.5 s min length): stays inside; second (<= 1 s) is
    # cut at one point inside it
    assert len(segs) == 2
    assert segs[0][0] == 0.0 and 3.6 <= segs[0][1] <= 4.3
    assert segs[1][0] == pytest.approx(segs[0][1], abs=1e-9)
    assert sum(e - s for s, e in segs) == pytest.approx(len(x) / sr, abs=0.02)


def test_all_silence_and_quiet_noise_give_no_segments():
    sr = 16000
    assert audio_dsp.slice_on_silence(np.zeros(sr * 3, np.float32), sr) == []
    noise = (10 ** (-60 / 20) * np.random.default_rng(0).standard_normal(sr * 3)).astype(np.float32)
    assert audio_dsp.slice_on_silence(noise, sr) == []


def test_chunk_lengths_and_overlap():
    sr = 1000
    pieces = audio_dsp.chunk(0, 10_000, sr, 3.7, 0.3)
    assert pieces[0] == (0, 3700) and pieces[1] == (3400, 7100)
    assert pieces[-1][1] == 10_000 and all(e - s <= 4000 for s, e in pieces)
    assert audio_dsp.chunk(0, 3900, sr) == [(0, 3900)]


def test_highpass_removes_rumble_keeps_voice():
    sr = 16000
    t = np.arange(sr * 2) / sr
    low, voice = np.sin(2 * np.pi * 20 * t), np.sin(2 * np.pi * 200 * t)
    assert audio_dsp.rms_db(audio_dsp.highpass(low, sr)) < audio_dsp.rms_db(low) - 30
    assert abs(audio_dsp.rms_db(audio_dsp.highpass(voice, sr)) - audio_dsp.rms_db(voice)) < 0.1


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("empty.wav", b"", "empty_file"),
        ("notes.mp3", "这不是音频".encode(), "not_audio"),
        ("garbage.ogg", bytes(range(256)) * 4, "unknown_format"),
        ("clip.m4a", b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + b"\x00" * 64, "unsupported_codec"),
        ("voice.amr", b"#!AMR\n" + b"\x00" * 64, "unsupported_codec"),
    ],
)
def test_bad_files_raise_decode_errors_with_reason(tmp_path, name, data, reason):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(audio_io.AudioDecodeError) as e:
        audio_io.decode(p)
    assert e.value.reason == reason
    if reason == "unsupported_codec":
        assert "install" in str(e.value) or "ffmpeg" in str(e.value)


def test_truncated_wav_and_flac_are_dropped_not_crashing(tmp_path):
    x, _ = speech_like(2, 16000, np.random.default_rng(1))
    for fmt in ("WAV", "FLAC"):
        buf = io.BytesIO()
        sf.write(buf, x, 16000, format=fmt)
        p = tmp_path / f"t.{fmt.lower()}"
        p.write_bytes(buf.getvalue()[:40])
        with pytest.raises(audio_io.AudioDecodeError):
            audio_io.decode(p)


def test_silk_voice_message_with_tencent_prefix_decodes(tmp_path):
    pysilk = pytest.importorskip("pysilk")
    x, _ = speech_like(3, 24000, np.random.default_rng(2))
    out = io.BytesIO()
    pysilk.encode(io.BytesIO((x * 32767).astype("<i2").tobytes()), out, 24000, 24000, tencent=True)
    assert out.getvalue()[:1] == b"\x02" and out.getvalue()[1:10] == b"#!SILK_V3"
    p = tmp_path / "msg.amr"  # WeChat stores SILK under .amr too
    p.write_bytes(out.getvalue())
    dec = audio_io.decode(p)
    assert dec.container == "silk" and dec.sr == 24000
    assert abs(dec.audio.shape[0] / 24000 - 3.0) < 0.1
    y = dec.audio[:, 0]
    # lossy codec: levels agree within 2 dB
    assert abs(audio_dsp.rms_db(y) - audio_dsp.rms_db(x)) < 2.0


def test_voice_messages_attributed_by_media_ref():
    files = [(audio_io.Path(f"/a/{n}"), n) for n in ("111.silk", "222.wav", "rec.flac")]
    msgs = pd.DataFrame(
        {
            "msg_id": ["111", "x"],
            "kind": ["voice", "voice"],
            "media_ref": ["", "FileStorage\\Voice\\222.wav"],
            "is_target": [True, False],
        }
    )
    src = {s.rel: s for s in attribute(files, msgs)}
    assert src["111.silk"].origin == "voice_message" and src["111.silk"].is_target
    assert src["222.wav"].origin == "voice_message" and not src["222.wav"].is_target
    assert src["rec.flac"].origin == "recording" and src["rec.flac"].is_target


def test_clipped_pieces_dropped_with_reason(make_cfg, tmp_path):
    sr = 16000
    x, _ = speech_like(6, sr, np.random.default_rng(3))
    p = tmp_path / "loud.wav"
    sf.write(p, np.clip(x * 6, -1, 1), sr, subtype="FLOAT")
    cfg = make_cfg()
    result = run(cfg, [Source(p, "loud.wav")], lambda *a: None)
    assert result.report["files"][0]["status"] == "dropped"
    assert result.report["drops_by_reason"].get("piece_clipped", 0) >= 1


def test_stage_on_demo_audio_reports_every_file(make_cfg, data_dir):
    truth = write_demo_audio(data_dir / "raw" / "audio", seed=7)
    (data_dir / "raw" / "audio" / "voice" / "someone_else.silk").write_bytes(
        (data_dir / "raw" / "audio" / "voice" / "msg_demo_0001.silk").read_bytes()
    )
    msgs = pd.DataFrame(  # ingest's table: the subject (conf/subject.yaml) is resolved from it
        {
            "msg_id": ["8", "9"],
            "ts": pd.to_datetime([1_772_300_000, 1_772_300_060], unit="s", utc=True),
            "sender_id": ["wxid_meilan_chen01", "wxid_xiaoyu_lin88"],
            "sender_name": ["外婆", "小雨"],
            "is_self": [False, True],
            "kind": ["voice", "voice"],
            "media_ref": ["voice/msg_demo_0001.silk", "someone_else.silk"],
        }
    )
    (data_dir / "interim" / "ingest").mkdir(parents=True)
    msgs.to_parquet(data_dir / "interim" / "ingest" / "messages.parquet")
    audio_prep([f"paths.data={data_dir}"])
    out = data_dir / "interim" / "audio_prep"
    report = json.loads((out / "report.json").read_text())
    by_file = {f["file"]: f for f in report["files"]}
    for t in truth["files"]:
        f = by_file[t["file"]]
        assert f["status"] == t["expect"], f
        if t["expect"] == "dropped":
            assert f["reason"] == t["reason"] and f["detail"]
    assert by_file["voice/someone_else.silk"]["reason"] == "not_persona"
    assert by_file["voice/msg_demo_0001.silk"]["origin"] == "voice_message"  # hers: kept
    assert len(by_file) == len(list((data_dir / "raw" / "audio").rglob("*.*")))
    kept_s = sum(t["seconds"] for t in truth["files"] if t["expect"] == "kept")
    assert report["minutes_in"] * 60 == pytest.approx(kept_s + 5, abs=0.5)  # + the silent file
    assert 0.8 * kept_s < report["minutes_kept"] * 60 <= kept_s
    rows = [json.loads(line) for line in (out / "pieces.jsonl").read_text().splitlines()]
    assert len(rows) == report["pieces"] == sum(report["pieces_by_source"].values())
    for r in rows[:5]:
        y, sr = sf.read(out / "wav" / f"{r['piece']}.wav")
        y16, sr16 = sf.read(out / "wav16k" / f"{r['piece']}.wav")
        assert sr == 48000 and sr16 == 16000 and y.ndim == 1
        assert len(y16) == pytest.approx(len(y) / 3, abs=1)
        assert len(y) / sr == pytest.approx(r["seconds"], abs=1e-3)
        assert 1.0 <= r["seconds"] <= 4.0 + 1e-6
        assert np.max(np.abs(y)) <= 0.95 + 1e-4
    # loudness normalised per source: kept audio near the target
    lufs = [audio_dsp.loudness_lufs(sf.read(out / "wav" / f"{r['piece']}.wav")[0], 48000) for r in rows[:8]]
    assert abs(np.median(lufs) - (-20)) < 3


def test_bad_sample_rate_config_is_a_stage_error(make_cfg):
    from pipelines.stage import StageError

    with pytest.raises(StageError, match="sample_rate"):
        run(make_cfg("audio_prep.sample_rate=44100"), [], lambda *a: None)
