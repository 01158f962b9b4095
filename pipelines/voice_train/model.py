"""Training-only parts of the RVC v2 recipe: the discriminators, spectrogram/mel transforms and losses.
The generator lives in `runtime.voice.synth` because the live converter needs it too.

Discriminator attribute names follow RVC's MultiPeriodDiscriminatorV2 so `f0D48k.pth` loads:
`discriminators.0` is the scale discriminator (grouped 1-d convs on raw audio), then one period
discriminator per period (2, 3, 5, 7, 11, 17, 23, 37): the waveform folded into (t/p, p) and
convolved along time with (5, 1) kernels.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn
from torch.nn import functional as F

from runtime.voice.synth import LRELU_SLOPE, _wn, same_padding

PERIODS_V2 = (2, 3, 5, 7, 11, 17, 23, 37)


def _judge(convs: nn.ModuleList, conv_post: nn.Module, x):
    """A discriminator's score (flattened) and every layer's feature map (for feature matching)."""
    fmap = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        fmap.append(x)
    x = conv_post(x)
    fmap.append(x)
    return x.flatten(1), fmap


class ScaleDiscriminator(nn.Module):
    def __init__(self, width: int = 1):
        super().__init__()

        def c(n):  # channels and groups shrink together when width > 1 (tiny configs only)
            return max(1, n // width)

        self.convs = nn.ModuleList(
            [
                _wn(nn.Conv1d(1, c(16), 15, 1, padding=7)),
                _wn(nn.Conv1d(c(16), c(64), 41, 4, groups=c(4), padding=20)),
                _wn(nn.Conv1d(c(64), c(256), 41, 4, groups=c(16), padding=20)),
                _wn(nn.Conv1d(c(256), c(1024), 41, 4, groups=c(64), padding=20)),
                _wn(nn.Conv1d(c(1024), c(1024), 41, 4, groups=c(256), padding=20)),
                _wn(nn.Conv1d(c(1024), c(1024), 5, 1, padding=2)),
            ]
        )
        self.conv_post = _wn(nn.Conv1d(c(1024), 1, 3, 1, padding=1))

    def forward(self, x):
        return _judge(self.convs, self.conv_post, x)


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, width: int = 1, kernel: int = 5, stride: int = 3):
        super().__init__()
        self.period = period
        chans = [1] + [max(1, n // width) for n in (32, 128, 512, 1024, 1024)]
        pad = (same_padding(kernel), 0)
        self.convs = nn.ModuleList(
            _wn(nn.Conv2d(chans[i], chans[i + 1], (kernel, 1), (stride if i < 4 else 1, 1), padding=pad))
            for i in range(5)
        )
        self.conv_post = _wn(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x):
        b, c, t = x.shape
        if t % self.period:
            x = F.pad(x, (0, self.period - t % self.period), "reflect")
        x = x.view(b, c, -1, self.period)
        return _judge(self.convs, self.conv_post, x)


class MultiPeriodDiscriminator(nn.Module):
    """Scale discriminator + one period discriminator per period; `width` divides channels (tiny)."""

    def __init__(self, periods=PERIODS_V2, width: int = 1):
        super().__init__()
        self.discriminators = nn.ModuleList(
            [ScaleDiscriminator(width), *(PeriodDiscriminator(p, width) for p in periods)]
        )

    def forward(self, real, fake):
        out = [d(real) + d(fake) for d in self.discriminators]  # (score_r, fmap_r, score_g, fmap_g)
        return [o[0] for o in out], [o[2] for o in out], [o[1] for o in out], [o[3] for o in out]


# ---- spectrograms --------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> torch.Tensor:
    import librosa

    return torch.from_numpy(
        librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    ).float()


def linear_spectrogram(audio: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """(b, samples) -> (b, n_fft//2+1, samples//hop) magnitude, reflect-padded as VITS/RVC do."""
    pad = (n_fft - hop) // 2
    x = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(win, device=audio.device, dtype=audio.dtype)
    spec = torch.stft(x, n_fft, hop, win, window, center=False, return_complex=True)
    return torch.sqrt(spec.real**2 + spec.imag**2 + 1e-6)


def spec_to_mel(spec: torch.Tensor, sr: int, n_fft: int, n_mels: int, fmin=0.0, fmax=None) -> torch.Tensor:
    basis = _mel_basis(sr, n_fft, n_mels, float(fmin), fmax).to(spec.device, spec.dtype)
    return torch.log(torch.clamp(basis @ spec, min=1e-5))


def mel_spectrogram(audio, sr, n_fft, hop, win, n_mels, fmin=0.0, fmax=None):
    return spec_to_mel(linear_spectrogram(audio, n_fft, hop, win), sr, n_fft, n_mels, fmin, fmax)


# ---- losses (least-squares GAN, feature matching, KL) ----------------------------------------------
def discriminator_loss(real_scores, fake_scores) -> torch.Tensor:
    return sum(
        torch.mean((1 - r.float()) ** 2) + torch.mean(g.float() ** 2)
        for r, g in zip(real_scores, fake_scores, strict=True)
    )


def generator_adversarial_loss(fake_scores) -> torch.Tensor:
    return sum(torch.mean((1 - g.float()) ** 2) for g in fake_scores)


def feature_matching_loss(fmap_real, fmap_fake) -> torch.Tensor:
    return 2 * sum(
        torch.mean(torch.abs(r.float().detach() - g.float()))
        for dr, dg in zip(fmap_real, fmap_fake, strict=True)
        for r, g in zip(dr, dg, strict=True)
    )


def kl_loss(z_p, logs_q, m_p, logs_p, mask) -> torch.Tensor:
    """KL between the posterior sample pushed through the flow and the prior, per unmasked element."""
    z_p, logs_q, m_p, logs_p, mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, mask))
    kl = logs_p - logs_q - 0.5 + 0.5 * (z_p - m_p) ** 2 * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * mask) / torch.sum(mask)
