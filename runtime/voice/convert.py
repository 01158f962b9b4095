"""Voice conversion with an exported voice model: whole files (offline) and block by block (live).

Light dependencies: numpy + soundfile, onnxruntime for the ONNX path; torch (and transformers for the
content encoder) only on the torch path; faiss only if installed (else exact numpy search over the
exported feature matrix). A model folder is what `pipelines.voice_export` writes: `voice.json`
names the files (RVC-format `.pth`, `.index`, `.onnx`, `content.onnx`, `content/`).

Per window of 16 kHz input: pitch (registry in `runtime.voice.pitch`) shifted by `transpose`
semitones -> coarse bins; content features (50 fps) mixed with their k=8 nearest training features
(weights 1/d^2, `index_rate`), repeated 2x onto the 100 fps pitch grid; on unvoiced frames
`protect` keeps part of the original features; the synthesizer turns that into model-rate audio.

Live (`StreamingConverter`): every call takes one block of 16 kHz input. The window fed to the
model is extra context + crossfade + SOLA search + block (all multiples of 10 ms). Audio and pitch
live in rolling buffers (pitch is computed for the new frames only); content features are
recomputed over the window (HuBERT attends over all of it) and retrieval runs on the decoded frames
only; the synthesizer decodes only the new tail. The tail is spliced onto the previous output with
SOLA: the offset within the search range that maximises the normalised cross-correlation with the
previous tail, then a cos^2 crossfade. Blocks quieter than `silence_db` are skipped (silence out).
Algorithmic latency = block + crossfade + search; add the compute time per block and device buffers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.extras import require
from runtime.onnx_sessions import ort_session
from runtime.timings import Timings
from runtime.voice import pitch as pitch_mod

SR16 = 16000
FRAME16 = 160  # 10 ms at 16 kHz: the pitch/feature frame


class VoiceModelError(RuntimeError):
    """The model folder is incomplete or a back-end is missing; the message says what to do."""


# ---- settings ------------------------------------------------------------------------------------
@dataclass
class Settings:
    transpose: float = 0.0  # semitones
    index_rate: float = 0.5  # 0 = content features only, 1 = retrieved training features only
    protect: float = 0.33  # < 0.5: keep this much of the original features on unvoiced frames
    pitch: str = "yin"
    pitch_model: str | None = None  # weights file for extractors that need one (rmvpe: rmvpe.pt)
    block: float = 0.25  # seconds of new input per call
    crossfade: float = 0.05
    search: float = 0.01  # SOLA search range
    extra: float = 0.5  # left context fed to the model
    silence_db: float = -50.0  # blocks below this RMS level are skipped
    noise_scale: float = 0.66666  # prior sampling temperature (RVC's value)
    deterministic: bool = False  # zero noise: the output is a pure function of the input (tests)
    seed: int = 0
    margin_frames: int = 8  # frames decoded before the tail and dropped (decoder edge effects)
    f0_min: float = 50.0
    f0_max: float = 1100.0

    def samples16(self, seconds: float) -> int:
        return max(1, round(seconds * SR16 / FRAME16)) * FRAME16


# ---- model folder ----------------------------------------------------------------------------------
@dataclass
class ModelInfo:
    folder: Path
    spec: dict = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | Path) -> ModelInfo:
        folder = Path(folder)
        path = folder / "voice.json"
        if not path.is_file():
            raise VoiceModelError(
                f"{path} not found: export a voice model with python -m pipelines.voice_export"
            )
        return cls(folder, json.loads(path.read_text(encoding="utf-8")))

    def file(self, key: str) -> Path | None:
        name = self.spec.get(key)
        return self.folder / name if name else None

    @property
    def sample_rate(self) -> int:
        return int(self.spec["sample_rate"])

    @property
    def hop(self) -> int:
        return int(self.spec["hop"])


def _ort_session(path: Path, threads: int | None = None):
    try:
        return ort_session(path, threads)
    except ImportError as e:
        raise VoiceModelError(str(e)) from None


# ---- content encoders: 16 kHz audio -> (frames at 50 fps, dim) ------------------------------------------
class OnnxContent:
    def __init__(self, info: ModelInfo, threads=None):
        path = info.file("content_onnx")
        if path is None or not path.is_file():
            raise VoiceModelError(
                f"{info.folder}: no content.onnx; re-run `dvc repro voice_export` or use backend=torch"
            )
        self.session = _ort_session(path, threads)

    def __call__(self, x16: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"audio": np.asarray(x16, np.float32)[None]})[0][0]


class TorchContent:
    """A transformers HubertModel folder (`content/`), hidden state `layer`, optional final_proj (v1)."""

    def __init__(self, info: ModelInfo, device: str = "cpu"):
        torch = require("torch", "torch", "the voice's torch back-end", "use --backend onnx")
        from transformers import HubertModel

        folder = info.file("content_dir")
        if folder is None or not (folder / "config.json").is_file():
            raise VoiceModelError(
                f"{info.folder}: no content/ HuBERT folder for the torch back-end (bundles ship the "
                "ONNX graphs only): use --backend onnx, or --model with the voice_export folder"
            )
        self.torch, self.device = torch, device
        self.model = HubertModel.from_pretrained(folder, local_files_only=True).eval().to(device)
        self.layer = int(info.spec["content_layer"])
        self.proj = None
        if (folder / "final_proj.safetensors").is_file():
            from safetensors.torch import load_file

            t = load_file(folder / "final_proj.safetensors")
            self.proj = torch.nn.Linear(t["weight"].shape[1], t["weight"].shape[0])
            self.proj.load_state_dict(t)

    def __call__(self, x16: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.no_grad():
            wav = torch.from_numpy(np.asarray(x16, np.float32))[None].to(self.device)
            h = self.model(wav, output_hidden_states=True).hidden_states[self.layer]
            if self.proj is not None:
                h = self.proj(h)
        return h[0].float().cpu().numpy()


# ---- synthesizers: (phone, pitch, f0, rnd, noise, skip) -> model-rate audio ---------------------------
class OnnxSynth:
    def __init__(self, info: ModelInfo, threads=None):
        path = info.file("onnx")
        if path is None or not path.is_file():
            raise VoiceModelError(f"{info.folder}: no synthesizer .onnx; re-export the model")
        self.session = _ort_session(path, threads)

    def __call__(self, phone, pitch, f0, rnd, noise, skip: int) -> np.ndarray:
        feeds = {
            "phone": phone[None].astype(np.float32),
            "pitch": pitch[None].astype(np.int64),
            "f0": f0[None].astype(np.float32),
            "rnd": rnd[None].astype(np.float32),
            "noise": noise[None, None].astype(np.float32),
            "skip_head": np.array(skip, np.int64),
        }
        return self.session.run(None, feeds)[0].reshape(-1)


class TorchSynth:
    def __init__(self, info: ModelInfo, device: str = "cpu"):
        torch = require("torch", "torch", "the voice's torch back-end", "use --backend onnx")
        from runtime.voice.synth import SynthConfig, Synthesizer

        ckpt = torch.load(info.file("pth"), map_location="cpu", weights_only=True)
        if "synth" in info.spec:  # full architecture (RVC's list lacks flow/posterior depths of tiny models)
            cfg = SynthConfig.from_dict(info.spec["synth"])
        else:
            cfg = SynthConfig.from_rvc_config(ckpt["config"], ckpt.get("version", "v2"))
        self.net = Synthesizer.for_inference(cfg, ckpt["weight"]).to(device)
        self.torch, self.device = torch, device

    def __call__(self, phone, pitch, f0, rnd, noise, skip: int) -> np.ndarray:
        torch, d = self.torch, self.device
        with torch.no_grad():
            y = self.net.infer(
                torch.from_numpy(phone[None].astype(np.float32)).to(d),
                torch.from_numpy(pitch[None].astype(np.int64)).to(d),
                torch.from_numpy(f0[None].astype(np.float32)).to(d),
                rnd=torch.from_numpy(rnd[None].astype(np.float32)).to(d),
                noise=torch.from_numpy(noise[None, None].astype(np.float32)).to(d),
                skip_head=torch.tensor(skip),
                noise_scale=1.0,  # rnd already carries the temperature
            )
        return y.reshape(-1).cpu().numpy()


# ---- retrieval ---------------------------------------------------------------------------------------
class Retrieval:
    """k nearest training features (faiss .index if faiss is installed, else exact numpy search)."""

    def __init__(self, info: ModelInfo, k: int = 8):
        self.k, self.index = k, None
        index_path, npy_path = info.file("index"), info.file("index_vectors")
        try:
            import faiss

            if index_path is not None and index_path.is_file():
                self.index = faiss.read_index(str(index_path))
                self.vectors = self.index.reconstruct_n(0, self.index.ntotal)
        except ImportError:
            pass
        if self.index is None:
            if npy_path is None or not npy_path.is_file():
                raise VoiceModelError(f"{info.folder}: no retrieval index (install faiss-cpu, or re-export)")
            self.vectors = np.load(npy_path).astype(np.float32)
            self._sq = (self.vectors**2).sum(1)

    def search(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(q, np.float32)
        if self.index is not None:
            return self.index.search(q, self.k)
        d = (q**2).sum(1)[:, None] - 2 * q @ self.vectors.T + self._sq[None]
        ids = np.argpartition(d, min(self.k, d.shape[1] - 1), axis=1)[:, : self.k]
        dist = np.take_along_axis(d, ids, 1)
        order = np.argsort(dist, axis=1)
        return np.take_along_axis(dist, order, 1), np.take_along_axis(ids, order, 1)

    def mix(self, feats: np.ndarray, rate: float) -> np.ndarray:
        """rate * (1/d^2-weighted mean of the k nearest) + (1 - rate) * feats."""
        if rate <= 0 or len(feats) == 0:
            return feats
        dist, ids = self.search(feats)
        w = 1.0 / np.square(np.maximum(dist, 1e-6))
        w /= w.sum(1, keepdims=True)
        retrieved = np.einsum("nk,nkc->nc", w, self.vectors[np.maximum(ids, 0)])
        return (rate * retrieved + (1 - rate) * feats).astype(np.float32)


# ---- the converter -----------------------------------------------------------------------------------
def shift_f0(f0: np.ndarray, semitones: float) -> np.ndarray:
    return (f0 * 2 ** (semitones / 12)).astype(np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return np.asarray(x, np.float32)
    try:
        import soxr

        return soxr.resample(np.asarray(x, np.float32), sr_in, sr_out, quality="HQ").astype(np.float32)
    except ImportError:  # fallback: linear interpolation (fine for a check, audibly worse)
        n = round(len(x) * sr_out / sr_in)
        return np.interp(np.arange(n) * sr_in / sr_out, np.arange(len(x)), x).astype(np.float32)


class VoiceConverter:
    """Shared per-window conversion; `backend` picks ONNX Runtime or torch for content and synthesizer."""

    def __init__(
        self,
        model_dir,
        settings: Settings | None = None,
        backend: str = "onnx",
        threads=None,
        device: str = "cpu",
    ):
        self.info = ModelInfo.load(model_dir)
        self.s = settings or Settings()
        if backend == "onnx":
            self.content, self.synth = OnnxContent(self.info, threads), OnnxSynth(self.info, threads)
        elif backend == "torch":
            self.content, self.synth = TorchContent(self.info, device), TorchSynth(self.info, device)
        else:
            raise VoiceModelError(f"backend={backend}: choose onnx or torch")
        self.retrieval = Retrieval(self.info) if self.s.index_rate > 0 else None
        # the exported graph of the chosen extractor on the ONNX back-end (FCPE: pitch.onnx), else numpy/torch
        onnx_pitch = None
        if backend == "onnx" and self.info.spec.get("pitch_onnx_method") == self.s.pitch:
            onnx_pitch = self.info.file("pitch_onnx")
        self.pitch = pitch_mod.build(
            self.s.pitch,
            onnx_path=onnx_pitch,
            model_path=self.s.pitch_model,
            f0_min=self.s.f0_min,
            f0_max=self.s.f0_max,
            threads=threads,
        )
        self.sr, self.hop = self.info.sample_rate, self.info.hop
        self.inter = int(self.info.spec["inter_channels"])
        self.rng = np.random.default_rng(self.s.seed)
        self.timings: dict[str, float] = {}

    def _tick(self, name: str, t0: float) -> float:
        t1 = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + t1 - t0
        return t1

    def features(self, x16: np.ndarray, n_frames: int, mix_from: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(original, mixed) features on the 100 fps grid for `n_frames` frames; retrieval only from
        frame `mix_from` on (the frames that will be decoded)."""
        t0 = time.perf_counter()
        f50 = self.content(x16)
        t0 = self._tick("content", t0)
        mixed = f50.copy()
        lo = mix_from // 2
        if self.retrieval is not None and lo < len(f50):
            mixed[lo:] = self.retrieval.mix(f50[lo:], self.s.index_rate)
        self._tick("index", t0)

        def grid(f):  # 50 -> 100 fps; the last frame repeats if the window is longer
            rep = np.repeat(f, 2, axis=0)
            return rep[np.minimum(np.arange(n_frames), len(rep) - 1)]

        return grid(f50), grid(mixed)

    def synthesize(self, orig, mixed, f0, skip: int) -> np.ndarray:
        """Model-rate audio for frames [skip:] of the window."""
        t0 = time.perf_counter()
        if self.s.protect < 0.5:
            keep = np.where(f0 > 0, 1.0, self.s.protect).astype(np.float32)[:, None]
            mixed = mixed * keep + orig * (1 - keep)
        coarse = pitch_mod.coarse_f0(f0, self.s.f0_min, self.s.f0_max)
        n = len(f0)
        if self.s.deterministic:
            rnd = np.zeros((self.inter, n), np.float32)
            noise = np.zeros((n - skip) * self.hop, np.float32)
        else:
            rnd = self.rng.standard_normal((self.inter, n)).astype(np.float32) * self.s.noise_scale
            noise = self.rng.standard_normal((n - skip) * self.hop).astype(np.float32)
        y = self.synth(mixed.astype(np.float32), coarse, f0, rnd, noise, skip)
        self._tick("synth", t0)
        return y

    def convert(self, x16: np.ndarray) -> np.ndarray:
        """Offline: the whole 16 kHz signal at once -> model-rate audio of the same duration."""
        n = len(x16) // FRAME16
        f0 = shift_f0(self.pitch(x16)[:n], self.s.transpose)
        orig, mixed = self.features(x16, n)
        y = self.synthesize(orig, mixed, f0, 0)
        want = round(len(x16) * self.sr / SR16)
        return np.pad(y, (0, max(0, want - len(y))))[:want]


def cos2_fades(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade_in, fade_out) with fade_out = cos^2, fade_in = 1 - fade_out: constant-sum crossfade."""
    fade_out = np.cos(0.5 * np.pi * (np.arange(n) + 0.5) / n) ** 2
    return (1.0 - fade_out).astype(np.float32), fade_out.astype(np.float32)


def sola_offset(previous_tail: np.ndarray, candidate: np.ndarray, search: int) -> int:
    """Offset in [0, search] where `candidate` best continues `previous_tail` (normalised xcorr)."""
    n = len(previous_tail)
    seg = candidate[: n + search]
    num = np.correlate(seg, previous_tail, mode="valid")[: search + 1]
    energy = np.convolve(seg**2, np.ones(n), mode="valid")[: search + 1]
    return int(np.argmax(num / np.sqrt(energy + 1e-8)))


class StreamingConverter:
    """Block-based live conversion: `process(block16)` -> one block of model-rate audio.
    `naive=True` is the baseline for benchmarks: pitch, retrieval and decoding over the whole window
    every block (what a converter without rolling buffers and tail decoding does)."""

    def __init__(self, converter: VoiceConverter, naive: bool = False):
        self.vc, s, self.naive = converter, converter.s, naive
        self.block16, self.cross16 = s.samples16(s.block), s.samples16(s.crossfade)
        self.search16, self.extra16 = s.samples16(s.search), s.samples16(s.extra)
        self.window16 = self.extra16 + self.cross16 + self.search16 + self.block16
        self.frames = self.window16 // FRAME16
        r = converter.sr / SR16
        self.block, self.cross, self.search = (
            round(n * r) for n in (self.block16, self.cross16, self.search16)
        )
        self.audio16 = np.zeros(self.window16, np.float32)
        self.f0 = np.zeros(self.frames, np.float32)
        self.prev_tail = np.zeros(self.cross, np.float32)
        self.fade_in, self.fade_out = cos2_fades(self.cross)
        self.pitch_context = 4 * FRAME16 + 2 * int(np.ceil(SR16 / s.f0_min))  # enough for one YIN window
        self.blocks = self.skipped = 0
        self.last_offset = 0
        self.compute = Timings()  # seconds per block

    @property
    def latency_s(self) -> float:
        """Algorithmic latency (block + crossfade + search), without compute and device buffers."""
        return (self.block16 + self.cross16 + self.search16) / SR16

    def _update_pitch(self) -> None:
        nb = self.block16 // FRAME16
        ctx = min(self.window16 - self.block16, int(np.ceil(self.pitch_context / FRAME16)) * FRAME16)
        seg = self.audio16[-(self.block16 + ctx) :]
        f0 = self.vc.pitch(seg)
        self.f0 = np.roll(self.f0, -nb)
        self.f0[-nb:] = shift_f0(f0[ctx // FRAME16 : ctx // FRAME16 + nb], self.vc.s.transpose)

    def process(self, block16: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        block16 = np.asarray(block16, np.float32)
        assert len(block16) == self.block16, f"blocks must be {self.block16} samples at 16 kHz"
        self.audio16 = np.concatenate([self.audio16[self.block16 :], block16])
        self.blocks += 1
        if self.naive:
            self.f0 = shift_f0(self.vc.pitch(self.audio16)[: self.frames], self.vc.s.transpose)
        else:
            self._update_pitch()
        rms_db = 10 * np.log10(np.mean(block16**2) + 1e-12)
        if rms_db < self.vc.s.silence_db:  # silence: no inference, fade the previous tail out
            self.skipped += 1
            out = np.zeros(self.block, np.float32)
            out[: self.cross] = self.prev_tail * self.fade_out
            self.prev_tail = np.zeros(self.cross, np.float32)
            self.compute.add(time.perf_counter() - t0)
            return out
        tail_frames = (self.cross16 + self.search16 + self.block16) // FRAME16
        skip = 0 if self.naive else max(0, self.frames - tail_frames - self.vc.s.margin_frames)
        orig, mixed = self.vc.features(self.audio16, self.frames, mix_from=skip)
        y = self.vc.synthesize(orig, mixed, self.f0, skip)
        need = self.cross + self.search + self.block
        y = y[-need:] if len(y) >= need else np.pad(y, (need - len(y), 0))
        off = sola_offset(self.prev_tail, y, self.search)
        self.last_offset = off
        out = y[off : off + self.block].copy()
        out[: self.cross] = out[: self.cross] * self.fade_in + self.prev_tail * self.fade_out
        self.prev_tail = y[off + self.block : off + self.block + self.cross].copy()
        if len(self.prev_tail) < self.cross:
            self.prev_tail = np.pad(self.prev_tail, (0, self.cross - len(self.prev_tail)))
        self.compute.add(time.perf_counter() - t0)
        return out

    def delay_samples(self) -> int:
        """Output samples (model rate) by which the stream lags its input, excluding the SOLA offset."""
        return self.cross + self.search


def convert_file(
    in_path,
    out_path,
    model_dir,
    settings: Settings | None = None,
    backend: str = "onnx",
    streaming: bool = True,
    threads=None,
) -> dict:
    """File in, file out (no audio devices): output has the input's length and sample rate."""
    import soundfile as sf

    x, sr_in = sf.read(str(in_path), dtype="float32", always_2d=True)
    x = x.mean(1)
    vc = VoiceConverter(model_dir, settings, backend, threads)
    x16 = resample(x, sr_in, SR16)
    t0 = time.perf_counter()
    report = {"input_seconds": round(len(x) / sr_in, 3), "backend": backend, "streaming": streaming}
    if streaming:
        sc = StreamingConverter(vc)
        delay16 = round(sc.delay_samples() * SR16 / vc.sr)
        padded = np.concatenate([x16, np.zeros(delay16 + sc.block16, np.float32)])
        n_blocks = int(np.ceil(len(padded) / sc.block16))
        padded = np.pad(padded, (0, n_blocks * sc.block16 - len(padded)))
        y = np.concatenate(
            [sc.process(padded[i * sc.block16 : (i + 1) * sc.block16]) for i in range(n_blocks)]
        )
        y = y[sc.delay_samples() :]
        report.update(
            blocks=sc.blocks,
            skipped_blocks=sc.skipped,
            algorithmic_latency_ms=round(1000 * sc.latency_s, 1),
            compute_ms_per_block_mean=sc.compute.summary_ms()["mean"],
            compute_ms_per_block_p95=sc.compute.summary_ms()["p95"],
            block_ms=round(1000 * sc.block16 / SR16, 1),
        )
    else:
        y = vc.convert(x16)
    y = resample(y, vc.sr, sr_in)
    y = np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]
    elapsed = time.perf_counter() - t0
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out_path), y, sr_in, subtype="FLOAT")
    report.update(
        output_samples=len(y),
        input_samples=len(x),
        rtf=round(elapsed / max(report["input_seconds"], 1e-9), 3),
        timings_s={k: round(v, 3) for k, v in vc.timings.items()},
    )
    return report
