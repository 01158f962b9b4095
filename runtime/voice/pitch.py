"""Pitch (f0) extractors on 16 kHz audio, 10 ms hop, shared by training-data preparation and the live
voice converter. Numpy/torch only at import time; optional back-ends are imported when chosen.

Every extractor maps mono float32 16 kHz audio to f0 in Hz per frame (0 = unvoiced) on one grid:
frame i is centred on sample i*hop, `n_frames(len) = len // hop + 1` frames.

    extractor = build("yin", f0_min=50, f0_max=1100)
    f0 = extractor(x16k)
    coarse = coarse_f0(f0)       # RVC's 1..255 mel-scale bins (1 = unvoiced)

Registry (`EXTRACTORS`): yin (default, numpy, no weights), harvest / dio (pyworld), fcpe (torchfcpe,
weights bundled), crepe / crepe_tiny (torchcrepe, weights bundled), rmvpe (runtime.voice.rmvpe, user-
supplied weights).
`build(method, onnx_path=...)` runs an exported graph instead (`OnnxPitch`: onnxruntime only; FCPE is
exported by voice_export as `pitch.onnx`).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

from runtime.extras import require

SR = 16000
HOP = 160


class PitchUnavailable(RuntimeError):
    """The chosen extractor cannot run here (package or weights missing); the message says what to do."""


def n_frames(n_samples: int, hop: int = HOP) -> int:
    return n_samples // hop + 1


def _fit(f0: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to exactly n frames; NaN/negative become 0 (unvoiced)."""
    f0 = np.nan_to_num(np.asarray(f0, dtype=np.float32).reshape(-1), nan=0.0)
    f0[f0 < 0] = 0
    return f0[:n] if len(f0) >= n else np.pad(f0, (0, n - len(f0)))


# --- RVC's coarse pitch: mel-scale bins 1..255 ----------------------------------------------------
def coarse_f0(f0: np.ndarray, f0_min: float = 50.0, f0_max: float = 1100.0) -> np.ndarray:
    """Hz -> integer bins 1..255 on the mel scale between f0_min and f0_max; unvoiced -> 1."""
    mel = 1127.0 * np.log1p(np.asarray(f0, np.float64) / 700.0)
    lo, hi = 1127.0 * np.log1p(f0_min / 700.0), 1127.0 * np.log1p(f0_max / 700.0)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - lo) * 254.0 / (hi - lo) + 1.0
    mel[mel <= 1] = 1
    mel[mel > 255] = 255
    return np.rint(mel).astype(np.int64)


# --- YIN (default): numpy, no weights -------------------------------------------------------------
class Yin:
    """YIN (de Cheveigné & Kawahara 2002): cumulative-mean-normalised difference function, absolute
    threshold, parabolic refinement; frames whose best dip stays above `voicing` or whose level is
    below `silence_db` are unvoiced. Vectorised with FFTs in blocks of frames."""

    def __init__(
        self,
        f0_min=50.0,
        f0_max=1100.0,
        sr=SR,
        hop=HOP,
        threshold=0.15,
        voicing=0.35,
        silence_db=-50.0,
        block=2000,
        **_,
    ):
        self.sr, self.hop = sr, hop
        self.tau_min = max(2, int(np.floor(sr / f0_max)))
        self.tau_max = int(np.ceil(sr / f0_min))
        self.win = 2 * self.tau_max  # at least two periods of the lowest f0
        self.threshold, self.voicing, self.silence_db, self.block = threshold, voicing, silence_db, block

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        n = n_frames(len(x), self.hop)
        length = self.win + self.tau_max
        xp = np.pad(x, (self.win // 2, length))
        out = np.zeros(n, np.float32)
        for b0 in range(0, n, self.block):
            idx = np.arange(b0, min(n, b0 + self.block))
            frames = np.lib.stride_tricks.sliding_window_view(xp, length)[idx * self.hop]
            out[idx] = self._block(frames)
        return out

    def _block(self, frames: np.ndarray) -> np.ndarray:
        w, tmax = self.win, self.tau_max
        nfft = 1 << int(np.ceil(np.log2(2 * frames.shape[1])))
        spec = np.fft.rfft(frames, nfft)
        head = np.fft.rfft(frames[:, :w], nfft)
        cross = np.fft.irfft(np.conj(head) * spec, nfft)[:, : tmax + 1]
        sq = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
        taus = np.arange(tmax + 1)
        energy0 = sq[:, w][:, None]
        energy_tau = sq[:, taus + w] - sq[:, taus]
        diff = np.maximum(energy0 + energy_tau - 2 * cross, 0.0)
        cmnd = np.ones_like(diff)
        cum = np.cumsum(diff[:, 1:], axis=1)
        cmnd[:, 1:] = diff[:, 1:] * taus[1:] / np.maximum(cum, 1e-12)

        lo = self.tau_min
        region = cmnd[:, lo : tmax + 1]
        below = region < self.threshold
        first = np.where(below.any(axis=1), below.argmax(axis=1), region.argmin(axis=1))
        # walk down to the bottom of the dip that first crossed the threshold
        tau = first + lo
        rows = np.arange(len(frames))
        for _ in range(tmax):
            nxt = np.minimum(tau + 1, tmax)
            step = cmnd[rows, nxt] < cmnd[rows, tau]
            if not step.any():
                break
            tau = np.where(step, nxt, tau)
        best = cmnd[rows, tau]
        # parabolic interpolation on the cmnd around tau
        a = cmnd[rows, np.maximum(tau - 1, 0)]
        c = cmnd[rows, np.minimum(tau + 1, tmax)]
        denom = a - 2 * best + c
        shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
        period = tau + np.clip(shift, -1, 1)
        f0 = self.sr / np.maximum(period, 1e-6)
        level = 10 * np.log10(energy0[:, 0] / w + 1e-12)
        voiced = (best < self.voicing) & (level > self.silence_db) & (tau > lo) & (tau < tmax)
        return np.where(voiced, f0, 0.0).astype(np.float32)


# --- pyworld: harvest / dio -----------------------------------------------------------------------
def _import_pyworld():
    """pyworld 0.3.5's __init__ only reads its version through pkg_resources, which setuptools>=81
    removed; its compiled module (harvest, dio, stonemask) needs nothing else, so load that directly."""
    try:
        import pyworld

        return pyworld
    except ModuleNotFoundError as e:
        if e.name != "pkg_resources":
            raise
    import glob
    import importlib.util

    spec = importlib.util.find_spec("pyworld")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pyworld")
    found = glob.glob(str(Path(next(iter(spec.submodule_search_locations))) / "pyworld.*.so"))
    if not found:
        raise ImportError("pyworld's compiled module not found")
    ext = importlib.util.spec_from_file_location("pyworld.pyworld", found[0])
    mod = importlib.util.module_from_spec(ext)
    ext.loader.exec_module(mod)
    return mod


class World:
    def __init__(self, method="harvest", f0_min=50.0, f0_max=1100.0, sr=SR, hop=HOP, **_):
        try:
            pyworld = _import_pyworld()
        except ImportError:
            raise PitchUnavailable(
                f"pitch method '{method}' needs pyworld: pip install pyworld (it builds from source and "
                "needs setuptools<81 in its build environment, e.g. uv pip install --build-constraint)"
            ) from None
        self.pw, self.method, self.f0_min, self.f0_max, self.sr, self.hop = (
            pyworld,
            method,
            f0_min,
            f0_max,
            sr,
            hop,
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x64 = np.asarray(x, np.float64)
        period = 1000.0 * self.hop / self.sr
        fn = self.pw.harvest if self.method == "harvest" else self.pw.dio
        f0, t = fn(x64, self.sr, f0_floor=self.f0_min, f0_ceil=self.f0_max, frame_period=period)
        f0 = self.pw.stonemask(x64, f0, t, self.sr)
        return _fit(f0, n_frames(len(x), self.hop))


# --- torchcrepe / torchfcpe: they import torchaudio, which we avoid -------------------------------
def _import_avoiding_torchaudio(module: str, method: str):
    """Import torchcrepe/torchfcpe. Both import torchaudio at module level but use it only to load
    files (torchcrepe.load) or to resample inputs not at 16 kHz (torchfcpe's Wav2Mel); we always pass
    16 kHz arrays. torchaudio's wheels fail beside CPU torch 2.13, so when it is absent or broken a
    placeholder stands in *only while the module is imported* (then leaves sys.modules, so nothing
    else, e.g. transformers' availability checks, ever sees it); every use of it raises a clear
    error instead of giving a wrong result."""
    if module in sys.modules:
        return sys.modules[module]
    try:
        import torchaudio  # noqa: F401

        placeholder = None
    except Exception:
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[name]
        placeholder = _torchaudio_placeholder()
        sys.modules["torchaudio"] = placeholder
        sys.modules["torchaudio.transforms"] = placeholder.transforms
    try:
        return __import__(module)
    except ImportError as e:
        raise PitchUnavailable(
            f"pitch method '{method}' needs {module}: pip install --no-deps {module} plus its dependencies "
            f"except torchaudio ({'einops local-attention' if module == 'torchfcpe' else 'resampy'}); ({e})"
        ) from None
    finally:
        if placeholder is not None:
            for name in ("torchaudio", "torchaudio.transforms"):
                if sys.modules.get(name) in (placeholder, placeholder.transforms):
                    del sys.modules[name]


def _torchaudio_placeholder() -> types.ModuleType:
    def unavailable(*_a, **_k):
        raise PitchUnavailable(
            "torchaudio is not installed (it breaks CPU torch 2.13): pass 16 kHz numpy audio to the pitch "
            "extractor instead of files or other sample rates"
        )

    mod = types.ModuleType("torchaudio")
    mod.__still_placeholder__ = True
    mod.load = unavailable
    mod.transforms = types.ModuleType("torchaudio.transforms")
    mod.transforms.Resample = unavailable
    return mod


class Fcpe:
    def __init__(self, f0_min=50.0, f0_max=1100.0, sr=SR, hop=HOP, threshold=0.006, device="cpu", **_):
        assert sr == SR and hop == HOP, "FCPE runs on the 16 kHz / 10 ms grid"
        fcpe = _import_avoiding_torchaudio("torchfcpe", "fcpe")
        self.model = fcpe.spawn_bundled_infer_model(device=device)
        self.f0_min, self.f0_max, self.threshold = f0_min, f0_max, threshold

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        n = n_frames(len(x))
        with torch.no_grad():
            f0 = self.model.infer(
                torch.from_numpy(np.asarray(x, np.float32))[None, :, None],
                sr=SR,
                decoder_mode="local_argmax",
                threshold=self.threshold,
                f0_min=self.f0_min,
                f0_max=self.f0_max,
                interp_uv=False,
                output_interp_target_length=n,
            )
        return _fit(f0.squeeze().cpu().numpy(), n)


class Crepe:
    def __init__(
        self, f0_min=50.0, f0_max=1100.0, sr=SR, hop=HOP, model="full", periodicity=0.1, device="cpu", **_
    ):
        self.tc = _import_avoiding_torchaudio("torchcrepe", f"crepe ({model})")
        self.f0_min, self.f0_max, self.model, self.periodicity, self.device = (
            f0_min,
            f0_max,
            model,
            periodicity,
            device,
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        audio = torch.from_numpy(np.asarray(x, np.float32))[None]
        with torch.no_grad():
            f0, pd = self.tc.predict(
                audio,
                SR,
                HOP,
                self.f0_min,
                self.f0_max,
                self.model,
                batch_size=512,
                device=self.device,
                return_periodicity=True,
            )
        f0, pd = f0.squeeze(0).numpy(), pd.squeeze(0).numpy()
        f0[pd < self.periodicity] = 0
        return _fit(f0, n_frames(len(x)))


# --- any extractor exported as an ONNX graph: audio (1, samples), threshold -> f0 (1, frames) ---------
class OnnxPitch:
    def __init__(self, path, f0_min=50.0, f0_max=1100.0, threshold=0.006, threads=None, **_):
        from runtime.onnx_sessions import ort_session

        if not Path(path).is_file():
            raise PitchUnavailable(f"{path} not found: re-export the voice (dvc repro voice_export)")
        try:
            self.session = ort_session(path, threads)
        except ImportError as e:
            raise PitchUnavailable(str(e)) from None
        self.f0_max, self.threshold = f0_max, np.array(threshold, np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        audio = np.asarray(x, np.float32)[None]
        f0 = self.session.run(None, {"audio": audio, "threshold": self.threshold})[0]
        return _fit(np.minimum(f0, self.f0_max), n_frames(len(x)))  # torchfcpe clamps to f0_max too


# --- RMVPE: user-supplied weights -----------------------------------------------------------------
class Rmvpe:
    """RMVPE (`runtime.voice.rmvpe`) with the user-supplied `rmvpe.pt` (RVC WebUI's
    assets/rmvpe/rmvpe.pt, 181 MB, published with the RVC pretrained models on their model hub page)."""

    def __init__(self, model_path: str | Path | None = None, device="cpu", **_):
        path = Path(model_path) if model_path else None
        if path is None or not path.is_file():
            raise PitchUnavailable(
                "pitch method 'rmvpe' needs its weights file: "
                f"{path or '(voice_features.pitch.rmvpe_path unset)'}"
                " not found. Download rmvpe.pt (RVC WebUI assets: assets/rmvpe/rmvpe.pt) and set "
                "voice_features.pitch.rmvpe_path (or --pitch-model) to it, or choose fcpe|harvest|yin"
            )
        torch = require("torch", "torch", "the rmvpe pitch extractor", "choose fcpe|harvest|yin")
        from runtime.voice.rmvpe import RmvpeExtractor

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise PitchUnavailable(f"{path} is not a readable RMVPE checkpoint: {e}") from None
        if not isinstance(state, dict) or not any(k.startswith(("unet.", "fc.")) for k in state):
            raise PitchUnavailable(f"{path} does not look like RMVPE weights (no unet/fc parameters)")
        try:
            self.extract = RmvpeExtractor({k: v.float() for k, v in state.items()}, device)
        except RuntimeError as e:  # names or shapes differ from the public architecture
            raise PitchUnavailable(f"{path} does not match the RMVPE architecture: {e}") from None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return _fit(self.extract(x), n_frames(len(x)))


EXTRACTORS: dict[str, Callable[..., Callable[[np.ndarray], np.ndarray]]] = {
    "yin": Yin,
    "harvest": lambda **kw: World(method="harvest", **kw),
    "dio": lambda **kw: World(method="dio", **kw),
    "fcpe": Fcpe,
    "crepe": lambda **kw: Crepe(**{"model": "full", **kw}),
    "crepe_tiny": lambda **kw: Crepe(**{**kw, "model": "tiny"}),
    "rmvpe": Rmvpe,
}


def build(method: str, onnx_path=None, **kwargs) -> Callable[[np.ndarray], np.ndarray]:
    """An extractor from the registry, or its exported graph at `onnx_path`; PitchUnavailable says what
    is missing."""
    if onnx_path is not None:
        return OnnxPitch(onnx_path, **kwargs)
    if method not in EXTRACTORS:
        raise PitchUnavailable(f"unknown pitch method '{method}': choose one of {', '.join(EXTRACTORS)}")
    return EXTRACTORS[method](**kwargs)
