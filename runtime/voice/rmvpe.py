"""RMVPE pitch extractor (the reference system's choice), in torch, with the parameter names of the
public `rmvpe.pt`, so that file loads unchanged (a state dict of about 181 MB, user-supplied).

    log-mel (128 bins, HTK scale, 30 Hz-8 kHz, 1024-point window, 10 ms hop, centred frames)
      -> deep U-Net (5 encoder levels, 4 intermediate blocks, 5 decoder levels; residual conv blocks)
      -> 3-channel conv -> bidirectional GRU -> 360 pitch bins (20 cents apart) with sigmoid salience
      -> local weighted average of cents around the peak; peaks below 0.03 are unvoiced.

Frames are padded to a multiple of 32 (the U-Net halves time five times) and cut back afterwards.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

SR, HOP, N_FFT, N_MELS, FMIN, FMAX = 16000, 160, 1024, 128, 30.0, 8000.0
CENTS = 20 * np.arange(360) + 1997.3794084376191  # bin -> cents above 10 Hz
THRESHOLD = 0.03


# ---- the network ---------------------------------------------------------------------------------
class ConvBlockRes(nn.Module):
    def __init__(self, cin: int, cout: int, momentum: float = 0.01):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout, momentum=momentum),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout, momentum=momentum),
            nn.ReLU(),
        )
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        return self.conv(x) + (self.shortcut(x) if self.shortcut is not None else x)


class ResEncoderBlock(nn.Module):
    """`n_blocks` residual conv blocks, then (if `pool`) 2x2 average pooling; returns (skip, pooled)."""

    def __init__(self, cin: int, cout: int, pool: bool, n_blocks: int):
        super().__init__()
        self.conv = nn.ModuleList(ConvBlockRes(cin if i == 0 else cout, cout) for i in range(n_blocks))
        self.pool = nn.AvgPool2d(2) if pool else None

    def forward(self, x):
        for block in self.conv:
            x = block(x)
        return (x, self.pool(x)) if self.pool is not None else x


class ResDecoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, n_blocks: int):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1, bias=False),
            nn.BatchNorm2d(cout, momentum=0.01),
            nn.ReLU(),
        )
        self.conv2 = nn.ModuleList(ConvBlockRes(2 * cout if i == 0 else cout, cout) for i in range(n_blocks))

    def forward(self, x, skip):
        x = torch.cat([self.conv1(x), skip], dim=1)
        for block in self.conv2:
            x = block(x)
        return x


class Encoder(nn.Module):
    def __init__(self, levels: int, n_blocks: int, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(1, momentum=0.01)
        widths = [1] + [channels * 2**i for i in range(levels)]
        self.layers = nn.ModuleList(
            ResEncoderBlock(widths[i], widths[i + 1], True, n_blocks) for i in range(levels)
        )

    def forward(self, x):
        skips = []
        x = self.bn(x)
        for layer in self.layers:
            skip, x = layer(x)
            skips.append(skip)
        return x, skips


class Intermediate(nn.Module):
    def __init__(self, cin: int, cout: int, n_layers: int, n_blocks: int):
        super().__init__()
        self.layers = nn.ModuleList(
            ResEncoderBlock(cin if i == 0 else cout, cout, False, n_blocks) for i in range(n_layers)
        )

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Decoder(nn.Module):
    def __init__(self, cin: int, levels: int, n_blocks: int):
        super().__init__()
        self.layers = nn.ModuleList(
            ResDecoderBlock(cin // 2**i, cin // 2 ** (i + 1), n_blocks) for i in range(levels)
        )

    def forward(self, x, skips):
        for layer, skip in zip(self.layers, reversed(skips), strict=True):
            x = layer(x, skip)
        return x


class DeepUnet(nn.Module):
    def __init__(self, n_blocks: int = 4, levels: int = 5, inter_layers: int = 4, channels: int = 16):
        super().__init__()
        deepest = channels * 2**levels  # 512
        self.encoder = Encoder(levels, n_blocks, channels)
        self.intermediate = Intermediate(deepest // 2, deepest, inter_layers, n_blocks)
        self.decoder = Decoder(deepest, levels, n_blocks)

    def forward(self, x):
        x, skips = self.encoder(x)
        return self.decoder(self.intermediate(x), skips)


class BiGRU(nn.Module):
    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.gru = nn.GRU(features, hidden, num_layers=1, batch_first=True, bidirectional=True)

    def forward(self, x):
        return self.gru(x)[0]


class RMVPE(nn.Module):
    """log-mel (b, 128, frames) -> salience (b, frames, 360); frames a multiple of 32."""

    def __init__(self, n_blocks: int = 4, channels: int = 16):
        super().__init__()
        self.unet = DeepUnet(n_blocks, channels=channels)
        self.cnn = nn.Conv2d(channels, 3, 3, padding=1)
        self.fc = nn.Sequential(BiGRU(3 * N_MELS, 256), nn.Linear(512, 360), nn.Dropout(0.25), nn.Sigmoid())

    def forward(self, mel):
        x = self.cnn(self.unet(mel.transpose(-1, -2).unsqueeze(1)))  # (b, 3, frames, 128)
        return self.fc(x.transpose(1, 2).flatten(-2))


# ---- front end and decoding ----------------------------------------------------------------------
def mel_filterbank(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX) -> np.ndarray:
    """(n_mels, n_fft//2 + 1) triangular filters on the HTK mel scale, area-normalised (Slaney), as
    librosa.filters.mel(..., htk=True) computes them."""

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)

    fft_hz = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None]
    lower, upper = -ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


class LogMel(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("basis", torch.from_numpy(mel_filterbank()), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def forward(self, audio):
        """audio (b, samples) -> (b, 128, samples // 160 + 1)."""
        spec = torch.stft(audio, N_FFT, HOP, N_FFT, self.window, center=True, return_complex=True)
        return torch.log(torch.clamp(self.basis @ spec.abs(), min=1e-5))


def decode(salience: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """(frames, 360) salience -> f0 Hz: the salience-weighted mean of the 9 bins around each peak (bins
    past either end count as zero salience)."""
    padded, cents_table = np.pad(salience, ((0, 0), (4, 4))), np.pad(CENTS, 4)
    near = salience.argmax(1)[:, None] + np.arange(9)[None]  # peak - 4 .. peak + 4 in padded indices
    w = np.take_along_axis(padded, near, 1)
    cents = (w * cents_table[near]).sum(1) / np.maximum(w.sum(1), 1e-9)
    f0 = 10.0 * 2 ** (cents / 1200.0)
    f0[salience.max(1) <= threshold] = 0.0
    return f0.astype(np.float32)


class RmvpeExtractor:
    """16 kHz audio -> f0 per 10 ms frame with a loaded RMVPE network."""

    def __init__(self, state_dict: dict, device: str = "cpu", threshold: float = THRESHOLD):
        self.net = RMVPE().eval().to(device)
        self.net.load_state_dict(state_dict)
        self.mel = LogMel().to(device)
        self.device, self.threshold = device, threshold

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            mel = self.mel(torch.from_numpy(np.asarray(x, np.float32))[None].to(self.device))
            frames = mel.shape[-1]
            mel = nn.functional.pad(mel, (0, -frames % 32))
            salience = self.net(mel)[0, :frames].float().cpu().numpy()
        return decode(salience, self.threshold)
