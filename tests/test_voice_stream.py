"""runtime.voice.convert: SOLA splicing, silence skipping, file-in/file-out length, streaming vs offline
conversion, ONNX vs torch back-ends, and the `python -m runtime voice-convert` command. The model is a
tiny random-weight synthesizer exported by voice_export (numbers, not voice quality, are checked)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from runtime.voice import convert
from runtime.voice.convert import SR16, Settings, StreamingConverter, VoiceConverter, cos2_fades, sola_offset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(voice_model):
    return voice_model


def tone(seconds, sr=SR16, f0=180.0, amp=0.3, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


# ---- SOLA ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift", [0, 7, 123, 480])
def test_sola_recovers_a_known_shift(shift):
    rng = np.random.default_rng(shift)
    sig = np.convolve(rng.standard_normal(10000), np.hanning(15), "same").astype(np.float32)
    cross, search = 2400, 480
    prev_tail = sig[5000 : 5000 + cross]
    candidate = sig[5000 - shift : 5000 - shift + cross + search + 1000]  # tail sits `shift` in
    assert sola_offset(prev_tail, candidate, search) == shift


def test_cos2_crossfade_sums_to_one():
    fade_in, fade_out = cos2_fades(1000)
    np.testing.assert_allclose(fade_in + fade_out, 1.0, atol=1e-6)
    assert fade_out[0] > 0.99 and fade_in[-1] > 0.99 and np.all(np.diff(fade_out) <= 0)


# ---- streaming -------------------------------------------------------------------------------------
class CountingSynth:
    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, *a):
        self.calls += 1
        return self.inner(*a)


def test_silent_blocks_are_skipped(model_dir):
    vc = VoiceConverter(model_dir, Settings(deterministic=True))
    vc.synth = CountingSynth(vc.synth)
    sc = StreamingConverter(vc)
    x = np.concatenate([tone(1.0), np.zeros(SR16, np.float32), tone(1.0)])
    outs = [sc.process(x[i : i + sc.block16]) for i in range(0, len(x) - sc.block16 + 1, sc.block16)]
    assert sc.blocks == 12 and sc.skipped == 4 and vc.synth.calls == 8
    # the second silent block onwards is exact silence; the first fades the previous tail out
    assert (
        all(not np.any(o) for o in outs[5:8])
        and np.any(outs[4][: sc.cross])
        and not np.any(outs[4][sc.cross :])
    )
    assert all(len(o) == sc.block for o in outs)
    assert sc.latency_s == pytest.approx(0.25 + 0.05 + 0.01)


def test_file_mode_keeps_length_and_rate(model_dir, tmp_path):
    sr = 44100
    x = np.concatenate([tone(1.3, sr), np.zeros(int(0.9 * sr), np.float32), tone(0.77, sr)])
    sf.write(tmp_path / "in.wav", x, sr)
    report = convert.convert_file(tmp_path / "in.wav", tmp_path / "out.wav", model_dir, Settings())
    y, sr_out = sf.read(tmp_path / "out.wav", dtype="float32")
    assert sr_out == sr and len(y) == len(x) == report["output_samples"]
    assert report["skipped_blocks"] >= 2 and np.all(np.isfinite(y)) and np.abs(y).max() > 0
    assert report["algorithmic_latency_ms"] == 310.0 and report["compute_ms_per_block_mean"] > 0


def log_spectra(y, n=1024, hop=256):
    frames = np.lib.stride_tricks.sliding_window_view(y, n)[::hop] * np.hanning(n)
    return np.log(np.abs(np.fft.rfft(frames, axis=1)) + 1e-4)


def test_streaming_matches_offline_away_from_block_edges(model_dir):
    """Deterministic model inputs: streaming and whole-file conversion differ only through limited
    context (extra), incremental pitch and the SOLA splice. Each emitted block is compared, away from
    its crossfade, with the offline output at the exact position SOLA chose, on log spectra (phases
    may differ: the sine source restarts every window). Baselines: the offline conversion of the same
    input 2 semitones up, and of another tone; streaming must be much closer than either."""
    s = Settings(deterministic=True, extra=1.0, index_rate=0.5)
    x = tone(4.0)
    offline = VoiceConverter(model_dir, s).convert(x)
    up2 = VoiceConverter(
        model_dir, Settings(deterministic=True, extra=1.0, index_rate=0.5, transpose=2)
    ).convert(x)
    other = VoiceConverter(model_dir, s).convert(tone(4.0, f0=260.0))
    sc = StreamingConverter(VoiceConverter(model_dir, s))
    b, cross, search = sc.block, sc.cross, sc.search
    dist = {"stream": [], "up2": [], "other": []}
    for i in range(len(x) // sc.block16):
        out = sc.process(x[i * sc.block16 : (i + 1) * sc.block16])
        pos = i * b - cross - search + sc.last_offset  # where this block's audio sits in the offline output
        if i < 5:  # context still filling up (extra = 1 s)
            continue
        lo, hi = cross + 200, b - 200
        ref = log_spectra(offline[pos + lo : pos + hi])
        for name, y in (
            ("stream", out[lo:hi]),
            ("up2", up2[pos + lo : pos + hi]),
            ("other", other[pos + lo : pos + hi]),
        ):
            dist[name].append(np.mean(np.abs(log_spectra(y) - ref)))
    med = {k: float(np.median(v)) for k, v in dist.items()}
    print("median log-spectral distance to offline:", med)
    assert med["stream"] < 0.7 * med["up2"] and med["stream"] < 0.6 * med["other"], med


def test_onnx_and_torch_backends_agree(model_dir):
    s = Settings(deterministic=True)
    x = tone(1.5)
    a = VoiceConverter(model_dir, s, backend="onnx").convert(x)
    b = VoiceConverter(model_dir, s, backend="torch").convert(x)
    assert len(a) == len(b) == int(1.5 * 48000)
    assert np.max(np.abs(a - b)) < 1e-3 * max(1e-3, np.abs(b).max()) * 10


def test_cli_voice_convert(model_dir, tmp_path, capsys):
    from runtime.__main__ import main

    x = tone(1.1, 22050)
    sf.write(tmp_path / "in.wav", x, 22050)
    code = main(
        [
            "voice-convert",
            str(tmp_path / "in.wav"),
            str(tmp_path / "out.wav"),
            "--model",
            str(model_dir),
            "--transpose",
            "12",
            "--block",
            "0.15",
        ]
    )
    assert code == 0 and '"rtf"' in capsys.readouterr().out
    y, sr = sf.read(tmp_path / "out.wav")
    assert sr == 22050 and len(y) == len(x)
    assert main(["voice-convert", str(tmp_path / "missing.wav"), "b.wav", "--model", str(model_dir)]) == 2
    assert main(["voice-convert", str(tmp_path / "in.wav"), "b.wav", "--model", str(tmp_path / "nope")]) == 2
    assert "voice.json not found" in capsys.readouterr().err


def test_fcpe_pitch_runs_on_onnx_runtime_with_the_onnx_backend(model_dir):
    """voice_export's pitch.onnx (real torchfcpe weights) replaces torch FCPE on the ONNX back-end and
    tracks the same pitch."""
    from runtime.voice.pitch import Fcpe, OnnxPitch

    onnx_vc = VoiceConverter(model_dir, Settings(pitch="fcpe"), backend="onnx")
    torch_vc = VoiceConverter(model_dir, Settings(pitch="fcpe"), backend="torch")
    assert isinstance(onnx_vc.pitch, OnnxPitch) and isinstance(torch_vc.pitch, Fcpe)
    x = tone(1.2, f0=210.0)
    a, b = onnx_vc.pitch(x), torch_vc.pitch(x)
    voiced = (a > 0) & (b > 0)
    assert voiced.mean() > 0.8 and np.mean((a > 0) == (b > 0)) > 0.99
    assert np.max(np.abs(1200 * np.log2(a[voiced] / b[voiced]))) < 1
    assert abs(np.median(a[voiced]) - 210.0) < 5


def test_rmvpe_pitch_with_its_weights_file(model_dir, tmp_path, capsys):
    """`--pitch rmvpe --pitch-model rmvpe.pt` (a file shaped like the public one, random weights)."""
    from test_rmvpe import write_public_shaped_rmvpe

    from runtime.__main__ import main

    sf.write(tmp_path / "in.wav", tone(0.8), SR16)
    args = ["voice-convert", str(tmp_path / "in.wav"), str(tmp_path / "out.wav"), "--model", str(model_dir)]
    assert main([*args, "--pitch", "rmvpe"]) == 2
    assert "rmvpe.pt" in capsys.readouterr().err
    write_public_shaped_rmvpe(tmp_path / "rmvpe.pt")
    assert main([*args, "--pitch", "rmvpe", "--pitch-model", str(tmp_path / "rmvpe.pt")]) == 0
    assert len(sf.read(tmp_path / "out.wav")[0]) == int(0.8 * SR16)


def test_pitch_shift_and_protect():
    f0 = np.array([0.0, 100.0, 220.0], np.float32)
    np.testing.assert_allclose(convert.shift_f0(f0, 12), [0, 200, 440], rtol=1e-6)
    np.testing.assert_allclose(convert.shift_f0(f0, -12), [0, 50, 110], rtol=1e-6)


def test_runtime_voice_never_imports_pipelines():
    for path in (REPO / "runtime" / "voice").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import pipelines" not in text and "from pipelines" not in text, path


# ---- live: microphone -> speakers ----------------------------------------------------------------
def test_live_loop_turns_each_device_block_into_one_without_gaps(model_dir):
    """44.1 kHz device, 16 kHz converter input, 48 kHz model: the streaming resamplers hand out uneven
    chunks, yet every call returns exactly one device block; the slack grows during the first seconds
    only, stays far below a block, and after that the output never drops out."""
    from runtime.voice.live import LiveVoice

    live = LiveVoice(StreamingConverter(VoiceConverter(model_dir, Settings(deterministic=True))), 44100)
    assert live.device_block == 11025
    x = tone(10.0, 44100)
    outs, underruns = [], []
    for i in range(0, len(x) - 11025 + 1, 11025):
        outs.append(live.step(x[i : i + 11025]))
        underruns.append(live.underruns)
    assert all(len(o) == 11025 for o in outs)
    assert underruns[12] == underruns[-1] <= 3  # none after the first 3 s
    assert live.slack_s < 0.1 and live.latency_s == pytest.approx(0.31 + live.slack_s)
    steady = np.concatenate(outs[13:])
    rms_10ms = np.sqrt(np.mean(steady[: len(steady) // 441 * 441].reshape(-1, 441) ** 2, axis=1))
    assert rms_10ms.min() > 1e-3 * rms_10ms.max()
    with pytest.raises(ValueError, match="11025 samples at 44100 Hz"):
        live.step(x[:1000])


def test_voice_live_command_streams_the_chosen_devices_until_it_is_stopped(model_dir, monkeypatch, capsys):
    """voice-live: the microphone by index, the system's default output, one duplex stream in the
    device format, converted block after block (the loop is runtime.voice.loop, shared with call)."""
    from runtime.__main__ import main
    from tests.call_fakes import FakeSoundDevice, FastClock

    sd = FakeSoundDevice(FastClock(1))
    monkeypatch.setitem(__import__("sys").modules, "sounddevice", sd)
    args = ["voice-live", "--model", str(model_dir), "--input-device", "0", "--seconds", "1.2"]
    assert main(args) == 0
    stream = sd.streams[-1]
    assert stream.device == (0, 2) and stream.samplerate == 48000 and stream.blocksize == 12000
    assert stream.blocks_written >= 3 and stream.closed
    out, err = capsys.readouterr()
    assert "AI voice" in err and "Microphone (USB Headset) (MME) -> [2] Headphones" in err
    assert json.loads(out)["late_blocks"] == 0


def test_voice_live_without_an_audio_library_says_what_to_install(model_dir, monkeypatch, capsys):
    from runtime.__main__ import main

    monkeypatch.setitem(__import__("sys").modules, "sounddevice", None)  # import fails
    assert main(["voice-live", "--model", str(model_dir)]) == 2
    assert "pip install sounddevice" in capsys.readouterr().err
