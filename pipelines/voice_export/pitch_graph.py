"""FCPE (torchfcpe's bundled weights) as one ONNX graph: 16 kHz audio -> f0 in Hz per 10 ms frame, so
the live converter tracks pitch with a learned extractor through ONNX Runtime, without torch.

torchfcpe computes its mel spectrogram with a complex `torch.stft`, which the ONNX exporter cannot
trace. This graph computes the same spectrogram as a real convolution with windowed DFT kernels
(same padding, Hann window, magnitude, mel basis and log clamp). It then runs the same network and
the same local-argmax decoding. Exported from and checked against `runtime.voice.pitch.Fcpe`
(measured: 0.002 cents apart, identical voicing).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from runtime.voice import pitch


class FcpeGraph(torch.nn.Module):
    def __init__(self, infer_model):
        super().__init__()
        mel = infer_model.wav2mel.mel_extractor
        self.model, self.hop, self.clip = infer_model.model, mel.hop_length, mel.clip_val
        self.pad = (mel.win_size - mel.hop_length) // 2  # torchfcpe's padding for center=False
        n = torch.arange(mel.win_size, dtype=torch.float64)
        k = torch.arange(mel.n_fft // 2 + 1, dtype=torch.float64)[:, None]
        angle = 2 * math.pi * k * n / mel.n_fft
        window = torch.hann_window(mel.win_size, dtype=torch.float64)
        dft = torch.cat([window * torch.cos(angle), -window * torch.sin(angle)])[:, None]
        self.register_buffer("dft", dft.float())
        self.register_buffer("mel_basis", mel.mel_basis.clone())

    def forward(self, audio, threshold):
        """audio (1, samples) at 16 kHz, threshold () -> f0 (1, samples // 160 + 1) Hz, 0 = unvoiced."""
        y = F.pad(audio[:, None], (self.pad, self.pad), mode="reflect")
        re, im = F.conv1d(y, self.dft, stride=self.hop).chunk(2, dim=1)
        magnitude = torch.sqrt(re * re + im * im + 1e-9)
        mel = torch.log(torch.clamp(self.mel_basis @ magnitude, min=self.clip)).transpose(1, 2)
        mel = torch.cat([mel, mel[:, -1:]], 1)  # torchfcpe repeats the last frame: len // hop + 1
        latent = self.model(mel)
        confidence, peak = torch.max(latent, dim=-1, keepdim=True)
        near = (torch.arange(9, device=latent.device) + peak - 4).clamp(0, latent.shape[-1] - 1)
        weights = torch.gather(latent, -1, near)
        cents = (self.model.cent_table[near] * weights).sum(-1) / weights.sum(-1)
        f0 = 10.0 * torch.pow(2.0, cents / 1200.0)
        return torch.where(confidence[..., 0] > threshold, f0, torch.zeros_like(f0))


def export_fcpe(path: Path, opset: int = 17) -> dict:
    """Write the FCPE graph to `path`; returns its parity with the torch extractor on a gliding tone."""
    torch_fcpe = pitch.Fcpe()
    graph = FcpeGraph(torch_fcpe.model).eval()
    example = torch.zeros(1, 16000)
    with torch.no_grad():
        torch.onnx.export(
            graph,
            (example, torch.tensor(torch_fcpe.threshold)),
            str(path),
            input_names=["audio", "threshold"],
            output_names=["f0"],
            dynamic_axes={"audio": {1: "samples"}, "f0": {1: "frames"}},
            opset_version=opset,
            dynamo=False,
        )
    t = np.arange(int(1.37 * pitch.SR)) / pitch.SR
    tone = (0.3 * np.sin(2 * np.pi * np.cumsum(150 + 100 * t) / pitch.SR)).astype(np.float32)
    tone[: pitch.SR // 5] = 0  # an unvoiced start
    ref = torch_fcpe(tone)
    got = pitch.OnnxPitch(path, threshold=torch_fcpe.threshold)(tone)
    voiced = (ref > 0) & (got > 0)
    cents = np.abs(1200 * np.log2(got[voiced] / ref[voiced]))
    return {
        "voicing_agreement": float(np.mean((ref > 0) == (got > 0))),
        "max_cents": float(cents.max()) if voiced.any() else None,
    }
