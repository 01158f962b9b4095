"""audio_clean: the spectral gate raises SNR on speech with known added noise, leaves clean speech
alone, the SNR gate drops what stays noisy, and demucs' missing weights give a clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from omegaconf import OmegaConf

from pipelines import audio_dsp
from pipelines.audio_clean import denoisers, run
from pipelines.audio_clean.__main__ import main as audio_clean
from pipelines.audio_prep.__main__ import main as audio_prep
from pipelines.demo_data.audio import add_noise, speech_like, write_demo_audio
from pipelines.stage import StageError

SR = 48000


def true_snr(clean: np.ndarray, y: np.ndarray) -> float:
    return 10 * np.log10(np.sum(clean**2) / np.sum((y - clean) ** 2))


@pytest.fixture(scope="module")
def speech():
    return speech_like(3.7, SR, np.random.default_rng(11))[0]


@pytest.mark.parametrize("snr_db,gain_db", [(5, 3.0), (10, 3.0), (20, 2.5), (30, -0.5)])
def test_wiener_improves_true_snr(make_cfg, speech, snr_db, gain_db):
    """True SNR against the known clean signal (noise and distortion both count)."""
    clean = denoisers.build(make_cfg().audio_clean)
    noisy = add_noise(speech, snr_db, np.random.default_rng(snr_db), SR)
    y = clean(noisy, SR)
    assert true_snr(speech, y) - true_snr(speech, noisy) >= gain_db
    # the reference-free estimate moves the same way
    assert audio_dsp.estimate_snr_db(y, SR) > audio_dsp.estimate_snr_db(noisy, SR) + 3


def test_spectral_gate_helps_only_at_low_snr(make_cfg, speech):
    gate = denoisers.build(make_cfg("audio_clean.denoiser=spectral_gate").audio_clean)
    low = add_noise(speech, 5, np.random.default_rng(5), SR)
    assert true_snr(speech, gate(low, SR)) - true_snr(speech, low) >= 3.0
    mid = add_noise(speech, 20, np.random.default_rng(20), SR)
    assert true_snr(speech, gate(mid, SR)) < true_snr(speech, mid)  # why wiener is the default


def test_estimated_snr_tracks_the_known_snr(speech):
    for snr_db in (10, 20, 30):
        noisy = add_noise(speech, snr_db, np.random.default_rng(1), SR)
        assert audio_dsp.estimate_snr_db(noisy, SR) == pytest.approx(snr_db, abs=4)


@pytest.mark.parametrize("denoiser", ["wiener", "spectral_gate"])
def test_clean_speech_comes_out_unchanged(make_cfg, speech, denoiser):
    clean = denoisers.build(make_cfg(f"audio_clean.denoiser={denoiser}").audio_clean)
    assert np.array_equal(clean(speech, SR), speech)  # digital silence between words: untouched
    very_clean = add_noise(speech, 45, np.random.default_rng(2), SR)
    assert np.array_equal(clean(very_clean, SR), very_clean)  # above skip_above_snr_db


def test_snr_gate_drops_pieces_that_stay_noisy(make_cfg, speech):
    cfg = make_cfg()
    pieces = [
        ({"piece": "ok", "seconds": 3.7}, add_noise(speech, 25, np.random.default_rng(3), SR), SR),
        ({"piece": "bad", "seconds": 3.7}, add_noise(speech, -5, np.random.default_rng(4), SR), SR),
    ]
    written = []
    kept, report = run(cfg, pieces, lambda pid, y, y16: written.append((pid, len(y), len(y16))))
    assert [r["piece"] for r in kept] == ["ok"] and written == [("ok", len(speech), len(speech) // 3)]
    assert report["drops_by_reason"] == {"too_noisy": 1}
    assert report["dropped"][0]["piece"] == "bad" and "min_snr_db" in report["dropped"][0]["detail"]


def test_denoiser_registry(make_cfg):
    cfg = make_cfg("audio_clean.denoiser=none")
    x = np.ones(10, np.float32)
    assert denoisers.build(cfg.audio_clean)(x, SR) is x
    with pytest.raises(StageError, match="choose one of"):
        denoisers.build(make_cfg("audio_clean.denoiser=magic").audio_clean)


def test_demucs_without_weights_names_the_missing_file(make_cfg, tmp_path):
    cfg = make_cfg("audio_clean.denoiser=demucs", f"audio_clean.demucs.repo={tmp_path / 'nope'}")
    with pytest.raises(StageError, match=r"nope.*not found.*htdemucs.yaml"):
        denoisers.build(cfg.audio_clean)
    (tmp_path / "empty").mkdir()
    cfg = make_cfg("audio_clean.denoiser=demucs", f"audio_clean.demucs.repo={tmp_path / 'empty'}")
    with pytest.raises(StageError, match=r"htdemucs\.yaml not found.*955717e8"):
        denoisers.build(cfg.audio_clean)


@pytest.mark.slow
def test_demucs_loads_local_weights_and_separates(tmp_path):
    """The real loading path on a tiny random HTDemucs saved as demucs saves its models (~20 s)."""
    from demucs.htdemucs import HTDemucs
    from demucs.states import serialize_model

    torch.manual_seed(0)
    m = HTDemucs(
        sources=["drums", "bass", "other", "vocals"],
        channels=8,
        depth=2,
        t_layers=1,
        bottom_channels=0,
        segment=2,
        samplerate=44100,
    )
    torch.save(serialize_model(m, OmegaConf.create({}), half=False), tmp_path / "tinysig.th")
    cfg = OmegaConf.create(
        {"demucs": {"name": "tinysig", "repo": str(tmp_path), "shifts": 0, "segment": None}}
    )
    x = np.random.default_rng(0).standard_normal(SR * 2).astype(np.float32) * 0.1
    y = denoisers.demucs_separator(cfg)(x, SR)
    assert y.shape == x.shape and np.isfinite(y).all()


def test_stage_on_demo_audio(make_cfg, data_dir):
    write_demo_audio(data_dir / "raw" / "audio", seed=7)
    args = [f"paths.data={data_dir}"]
    audio_prep(args)
    audio_clean(args)
    out = data_dir / "interim" / "audio_clean"
    report = json.loads((out / "report.json").read_text())
    rows = [json.loads(line) for line in (out / "pieces.jsonl").read_text().splitlines()]
    assert report["pieces_kept"] == len(rows) and report["pieces_in"] == report["pieces_kept"] + len(
        report["dropped"]
    )
    assert report["snr_after_median_db"] > report["snr_before_median_db"] + 5
    noisy = [r for r in rows if r["file"] == "balcony_garden.flac"]  # recorded at 12 dB SNR
    assert noisy and np.median([r["snr_before_db"] for r in noisy]) == pytest.approx(12, abs=4)
    assert all(r["snr_after_db"] >= 15 for r in rows)
    y, sr = sf.read(out / "wav16k" / f"{rows[0]['piece']}.wav")
    assert sr == 16000 and len(y) / sr == pytest.approx(rows[0]["seconds"], abs=1e-3)


def test_a_listed_wav_that_is_missing_or_at_another_rate_names_both_files(tmp_path):
    from pipelines import audio_io

    listing, wav = tmp_path / "pieces.jsonl", tmp_path / "wav" / "A001_000_00.wav"
    missing = r"A001_000_00\.wav listed in .*pieces\.jsonl is missing: re-run audio_prep"
    with pytest.raises(StageError, match=missing):
        audio_io.read_listed_wav(wav, listing, "audio_prep", 48000)
    audio_io.write_wav(wav, np.zeros(1600, np.float32), 16000)
    with pytest.raises(StageError, match=r"A001_000_00\.wav is 16000 Hz, expected 48000: re-run audio_prep"):
        audio_io.read_listed_wav(wav, listing, "audio_prep", 48000)
    x, sr = audio_io.read_listed_wav(wav, listing, "audio_prep")  # no rate: read as it is
    assert sr == 16000 and len(x) == 1600
