"""The RVC-v2-compatible synthesizer (generator side), in torch: shared by training (pipelines/voice_train)
and the torch path of the live converter. Importing this module needs torch; the ONNX path does not.

Parts, with the attribute names the public RVC checkpoints use (so `f0G48k.pth` loads unchanged):
- `enc_p` prior encoder: Linear(content 768 -> hidden) + 256-entry coarse-pitch embedding, a
  transformer encoder with windowed relative-position self-attention, projection to (mean, log-std).
- `enc_q` posterior encoder (training only): 16-layer WaveNet over the linear spectrogram.
- `flow`: 4 mean-only affine coupling layers (WaveNet inside), each followed by a channel flip.
- `dec`: NSF-HiFiGAN: a sine excitation from f0 is injected after every upsampling stage.
- `emb_g`: speaker embedding (109 entries in the public bases; we use speaker 0).

Weight norm uses the classic `torch.nn.utils.weight_norm` hooks because they produce the
`weight_g`/`weight_v` parameter names found in every RVC checkpoint.

    cfg = SynthConfig()                              # the 48k v2 defaults
    net = Synthesizer(cfg)
    audio = net.infer(phone, pitch, f0_hz)          # (1, T, 768), (1, T) int, (1, T) Hz -> (1, 1, T*hop)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

LRELU_SLOPE = 0.1
# Order of the `config` list stored in RVC inference .pth files (the synthesizer's constructor order).
RVC_CONFIG_FIELDS = (
    "spec_channels",
    "segment_frames",
    "inter_channels",
    "hidden_channels",
    "filter_channels",
    "n_heads",
    "n_layers",
    "kernel_size",
    "p_dropout",
    "resblock",
    "resblock_kernel_sizes",
    "resblock_dilation_sizes",
    "upsample_rates",
    "upsample_initial_channel",
    "upsample_kernel_sizes",
    "spk_embed_dim",
    "gin_channels",
    "sample_rate",
)


@dataclass
class SynthConfig:
    """Architecture of the generator (RVC names; `segment_frames` is only a training-time value)."""

    spec_channels: int = 1025
    segment_frames: int = 36
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    p_dropout: float = 0.0
    resblock: str = "1"
    resblock_kernel_sizes: list = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list = field(default_factory=lambda: [[1, 3, 5]] * 3)
    upsample_rates: list = field(default_factory=lambda: [12, 10, 2, 2])
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: list = field(default_factory=lambda: [24, 20, 4, 4])
    spk_embed_dim: int = 109
    gin_channels: int = 256
    sample_rate: int = 48000
    content_dim: int = 768  # v2: HuBERT layer 12 (768); v1: 256
    posterior_layers: int = 16
    flow_layers: int = 3
    n_flows: int = 4

    @property
    def hop(self) -> int:
        return math.prod(self.upsample_rates)

    @property
    def version(self) -> str:
        return "v2" if self.content_dim == 768 else "v1"

    def rvc_config(self) -> list:
        """The `config` list of an RVC inference .pth (constructor order; RVC stores 32 as segment)."""
        return [getattr(self, f) for f in RVC_CONFIG_FIELDS]

    @classmethod
    def from_rvc_config(cls, values: list, version: str = "v2") -> SynthConfig:
        kw = dict(zip(RVC_CONFIG_FIELDS, values, strict=True))
        kw["sample_rate"] = int(str(kw["sample_rate"]).replace("k", "000"))
        return cls(**kw, content_dim=768 if version == "v2" else 256)

    @classmethod
    def from_dict(cls, d: dict) -> SynthConfig:
        known = set(cls.__dataclass_fields__)
        return cls(
            **{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in d.items() if k in known}
        )

    def to_dict(self) -> dict:
        return asdict(self)


def _wn(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(module)


def _remove_wn(module: nn.Module) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        nn.utils.remove_weight_norm(module)


def same_padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(b,) lengths -> (b, 1, max_len) float mask."""
    return (torch.arange(max_len, device=lengths.device)[None] < lengths[:, None]).unsqueeze(1).float()


# ---- prior encoder: transformer with relative-position attention ---------------------------------
class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels of a (b, c, t) tensor; parameters named gamma/beta as in RVC."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        return F.layer_norm(x.transpose(1, -1), self.gamma.shape, self.gamma, self.beta, self.eps).transpose(
            1, -1
        )


class RelativeSelfAttention(nn.Module):
    """Multi-head self-attention with learned relative-position terms for offsets in [-window, window]
    on both keys and values (shared by heads). Out-of-window offsets contribute nothing."""

    def __init__(self, channels: int, n_heads: int, window: int = 10):
        super().__init__()
        self.n_heads, self.window, self.k_channels = n_heads, window, channels // n_heads
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        scale = self.k_channels**-0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window + 1, self.k_channels) * scale)
        self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window + 1, self.k_channels) * scale)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def _offsets(self, t: int, device):
        """(t, t) index of offset j-i into the 2w+1 table, and whether it lies inside the window."""
        pos = torch.arange(t, device=device)
        rel = pos[None, :] - pos[:, None]
        inside = rel.abs() <= self.window
        return (rel.clamp(-self.window, self.window) + self.window), inside

    def forward(self, x, mask):
        b, c, t = x.shape
        h, d = self.n_heads, self.k_channels

        def heads(y):
            return y.view(b, h, d, t).transpose(2, 3)  # (b, h, t, d)

        q = heads(self.conv_q(x)) / math.sqrt(d)
        k, v = heads(self.conv_k(x)), heads(self.conv_v(x))
        idx, inside = self._offsets(t, x.device)
        scores = q @ k.transpose(-2, -1)
        rel_logits = q @ self.emb_rel_k[0].transpose(0, 1)  # (b, h, t, 2w+1)
        scores = scores + torch.gather(rel_logits, 3, idx.expand(b, h, t, t)) * inside
        scores = scores.masked_fill(mask == 0, -1e4)
        p = F.softmax(scores, dim=-1)
        out = p @ v
        # value terms: sum over keys j of p[i, j] * E_v[j - i], gathered back to the offset axis
        p_rel = torch.zeros(b, h, t, 2 * self.window + 1, dtype=p.dtype, device=p.device)
        p_rel = p_rel.scatter_add(3, idx.expand(b, h, t, t), p * inside)
        out = out + p_rel @ self.emb_rel_v[0]
        return self.conv_o(out.transpose(2, 3).reshape(b, c, t))


class FeedForward(nn.Module):
    def __init__(self, channels: int, filter_channels: int, kernel_size: int):
        super().__init__()
        self.pad = ((kernel_size - 1) // 2, kernel_size // 2)
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def forward(self, x, mask):
        x = torch.relu(self.conv_1(F.pad(x * mask, self.pad)))
        return self.conv_2(F.pad(x * mask, self.pad)) * mask


class TransformerEncoder(nn.Module):
    def __init__(self, hidden, filter_channels, n_heads, n_layers, kernel_size, p_dropout=0.0):
        super().__init__()
        self.drop = nn.Dropout(p_dropout)
        self.attn_layers = nn.ModuleList(RelativeSelfAttention(hidden, n_heads) for _ in range(n_layers))
        self.norm_layers_1 = nn.ModuleList(ChannelLayerNorm(hidden) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(
            FeedForward(hidden, filter_channels, kernel_size) for _ in range(n_layers)
        )
        self.norm_layers_2 = nn.ModuleList(ChannelLayerNorm(hidden) for _ in range(n_layers))

    def forward(self, x, mask):
        attn_mask = mask.unsqueeze(2) * mask.unsqueeze(-1)
        x = x * mask
        for attn, n1, ffn, n2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=False
        ):
            x = n1(x + self.drop(attn(x, attn_mask)))
            x = n2(x + self.drop(ffn(x, mask)))
        return x * mask


class PriorEncoder(nn.Module):
    """Content features + coarse pitch -> prior mean and log-std (RVC's TextEncoder)."""

    def __init__(self, c: SynthConfig):
        super().__init__()
        self.hidden, self.out_channels = c.hidden_channels, c.inter_channels
        self.emb_phone = nn.Linear(c.content_dim, c.hidden_channels)
        self.emb_pitch = nn.Embedding(256, c.hidden_channels)
        self.encoder = TransformerEncoder(
            c.hidden_channels, c.filter_channels, c.n_heads, c.n_layers, c.kernel_size, c.p_dropout
        )
        self.proj = nn.Conv1d(c.hidden_channels, 2 * c.inter_channels, 1)

    def forward(self, phone, pitch, lengths):
        x = (self.emb_phone(phone) + self.emb_pitch(pitch)) * math.sqrt(self.hidden)
        x = F.leaky_relu(x, 0.1).transpose(1, -1)
        mask = length_mask(lengths, x.size(2)).to(x.dtype)
        stats = self.proj(self.encoder(x * mask, mask)) * mask
        m, logs = stats.split(self.out_channels, dim=1)
        return m, logs, mask


# ---- WaveNet, posterior encoder, coupling flows --------------------------------------------------
class WaveNet(nn.Module):
    """Gated dilated convolutions with global conditioning (RVC's WN)."""

    def __init__(self, hidden, kernel_size, dilation_rate, n_layers, gin_channels=0):
        super().__init__()
        self.hidden, self.n_layers = hidden, n_layers
        if gin_channels:
            self.cond_layer = _wn(nn.Conv1d(gin_channels, 2 * hidden * n_layers, 1))
        self.in_layers, self.res_skip_layers = nn.ModuleList(), nn.ModuleList()
        for i in range(n_layers):
            dil = dilation_rate**i
            self.in_layers.append(
                _wn(
                    nn.Conv1d(
                        hidden, 2 * hidden, kernel_size, dilation=dil, padding=same_padding(kernel_size, dil)
                    )
                )
            )
            out = 2 * hidden if i < n_layers - 1 else hidden
            self.res_skip_layers.append(_wn(nn.Conv1d(hidden, out, 1)))

    def forward(self, x, mask, g=None):
        out = torch.zeros_like(x)
        g = self.cond_layer(g) if g is not None else None
        h = self.hidden
        for i, (inl, rs) in enumerate(zip(self.in_layers, self.res_skip_layers, strict=True)):
            a = inl(x)
            if g is not None:
                a = a + g[:, 2 * h * i : 2 * h * (i + 1)]
            acts = torch.tanh(a[:, :h]) * torch.sigmoid(a[:, h:])
            y = rs(acts)
            if i < self.n_layers - 1:
                x = (x + y[:, :h]) * mask
                out = out + y[:, h:]
            else:
                out = out + y
        return out * mask

    def remove_weight_norm(self):
        for m in [
            *self.in_layers,
            *self.res_skip_layers,
            *([self.cond_layer] if hasattr(self, "cond_layer") else []),
        ]:
            _remove_wn(m)


class PosteriorEncoder(nn.Module):
    """Linear spectrogram -> latent z (training only; dropped from exported weights)."""

    def __init__(self, c: SynthConfig):
        super().__init__()
        self.out_channels = c.inter_channels
        self.pre = nn.Conv1d(c.spec_channels, c.hidden_channels, 1)
        self.enc = WaveNet(c.hidden_channels, 5, 1, c.posterior_layers, c.gin_channels)
        self.proj = nn.Conv1d(c.hidden_channels, 2 * c.inter_channels, 1)

    def forward(self, spec, lengths, g=None):
        mask = length_mask(lengths, spec.size(2)).to(spec.dtype)
        stats = self.proj(self.enc(self.pre(spec) * mask, mask, g)) * mask
        m, logs = stats.split(self.out_channels, dim=1)
        z = (m + torch.randn_like(m) * torch.exp(logs)) * mask
        return z, m, logs, mask


class CouplingLayer(nn.Module):
    """Mean-only affine coupling: the second half of the channels is shifted by a WaveNet of the first."""

    def __init__(self, channels, hidden, kernel_size, dilation_rate, n_layers, gin_channels):
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WaveNet(hidden, kernel_size, dilation_rate, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden, self.half, 1)
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    def forward(self, x, mask, g=None, reverse=False):
        x0, x1 = x[:, : self.half], x[:, self.half :]
        m = self.post(self.enc(self.pre(x0) * mask, mask, g)) * mask
        x1 = (x1 - m) * mask if reverse else m + x1 * mask
        return torch.cat([x0, x1], 1)


class Flip(nn.Module):
    def forward(self, x, mask, g=None, reverse=False):
        return torch.flip(x, [1])


class Flow(nn.Module):
    def __init__(self, c: SynthConfig):
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(c.n_flows):
            self.flows.append(
                CouplingLayer(c.inter_channels, c.hidden_channels, 5, 1, c.flow_layers, c.gin_channels)
            )
            self.flows.append(Flip())

    def forward(self, x, mask, g=None, reverse=False):
        for f in reversed(self.flows) if reverse else self.flows:
            x = f(x, mask, g=g, reverse=reverse)
        return x


# ---- NSF-HiFiGAN decoder -------------------------------------------------------------------------
class ResBlock1(nn.Module):
    def __init__(self, ch, kernel_size, dilations):
        super().__init__()
        self.convs1 = nn.ModuleList(
            _wn(nn.Conv1d(ch, ch, kernel_size, dilation=d, padding=same_padding(kernel_size, d)))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            _wn(nn.Conv1d(ch, ch, kernel_size, padding=same_padding(kernel_size))) for _ in dilations
        )
        for conv in [*self.convs1, *self.convs2]:
            conv.weight_v.data.normal_(0.0, 0.01)

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x

    def remove_weight_norm(self):
        for conv in [*self.convs1, *self.convs2]:
            _remove_wn(conv)


class ResBlock2(nn.Module):
    def __init__(self, ch, kernel_size, dilations):
        super().__init__()
        self.convs = nn.ModuleList(
            _wn(nn.Conv1d(ch, ch, kernel_size, dilation=d, padding=same_padding(kernel_size, d)))
            for d in dilations[:2]
        )

    def forward(self, x):
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x

    def remove_weight_norm(self):
        for conv in self.convs:
            _remove_wn(conv)


class SineSource(nn.Module):
    """Harmonic excitation for the NSF decoder: a sine at f0 on voiced samples, noise elsewhere,
    merged by a 1x1 linear + tanh (`l_linear`, as in RVC's SourceModuleHnNSF with 0 overtones).

    The phase is accumulated per frame (fractional parts only) and extended linearly inside each
    frame, which keeps float32 precision over long inputs. `noise` is an explicit input so that
    inference is deterministic when the caller wants it (ONNX parity, streaming tests)."""

    def __init__(self, sample_rate: int, sine_amp: float = 0.1, noise_std: float = 0.003):
        super().__init__()
        self.sr, self.sine_amp, self.noise_std = sample_rate, sine_amp, noise_std
        self.l_linear = nn.Linear(1, 1)

    def forward(self, f0, upp: int, noise=None, phase0=None):
        """f0 (b, T) Hz -> excitation (b, 1, T*upp)."""
        b, t = f0.shape
        step = f0 / self.sr  # cycles per sample, per frame
        per_frame = torch.remainder(step * upp, 1.0)
        start = torch.cumsum(per_frame, dim=1) - per_frame  # phase at each frame's first sample
        if phase0 is not None:
            start = start + phase0[:, None]
        k = torch.arange(upp, device=f0.device, dtype=f0.dtype)
        phase = torch.remainder(start[:, :, None] + step[:, :, None] * k, 1.0).reshape(b, 1, t * upp)
        uv = (f0 > 0).to(f0.dtype).repeat_interleave(upp, dim=1).unsqueeze(1)
        if noise is None:
            noise = torch.randn_like(phase)
        amp = uv * self.noise_std + (1 - uv) * (self.sine_amp / 3)
        sine = torch.sin(2 * math.pi * phase) * self.sine_amp * uv + amp * noise
        return torch.tanh(self.l_linear(sine.transpose(1, 2).to(self.l_linear.weight.dtype))).transpose(1, 2)


class NSFGenerator(nn.Module):
    def __init__(self, c: SynthConfig):
        super().__init__()
        self.upp, self.num_kernels = c.hop, len(c.resblock_kernel_sizes)
        self.m_source = SineSource(c.sample_rate)
        self.conv_pre = nn.Conv1d(c.inter_channels, c.upsample_initial_channel, 7, 1, padding=3)
        self.ups, self.noise_convs, self.resblocks = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        block = ResBlock1 if str(c.resblock) == "1" else ResBlock2
        rates = list(c.upsample_rates)
        for i, (u, k) in enumerate(zip(rates, c.upsample_kernel_sizes, strict=True)):
            cin, cout = c.upsample_initial_channel // 2**i, c.upsample_initial_channel // 2 ** (i + 1)
            up = _wn(nn.ConvTranspose1d(cin, cout, k, u, padding=(k - u) // 2))
            up.weight_v.data.normal_(0.0, 0.01)
            self.ups.append(up)
            rest = math.prod(rates[i + 1 :])  # source samples per sample of this stage
            if i + 1 < len(rates):
                self.noise_convs.append(nn.Conv1d(1, cout, rest * 2, stride=rest, padding=rest // 2))
            else:
                self.noise_convs.append(nn.Conv1d(1, cout, 1))
            for ks, ds in zip(c.resblock_kernel_sizes, c.resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(cout, ks, ds))
        self.conv_post = nn.Conv1d(cout, 1, 7, 1, padding=3, bias=False)
        if c.gin_channels:
            self.cond = nn.Conv1d(c.gin_channels, c.upsample_initial_channel, 1)

    def forward(self, x, f0, g=None, noise=None, phase0=None):
        source = self.m_source(f0, self.upp, noise, phase0)
        x = self.conv_pre(x)
        if g is not None:
            x = x + self.cond(g)
        for i, (up, nconv) in enumerate(zip(self.ups, self.noise_convs, strict=True)):
            x = up(F.leaky_relu(x, LRELU_SLOPE)) + nconv(source)
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            x = sum(rb(x) for rb in blocks) / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))

    def remove_weight_norm(self):
        for up in self.ups:
            _remove_wn(up)
        for rb in self.resblocks:
            rb.remove_weight_norm()


# ---- the synthesizer -----------------------------------------------------------------------------
class Synthesizer(nn.Module):
    """RVC v2 synthesizer with pitch (SynthesizerTrnMs768NSFsid-compatible state dict)."""

    def __init__(self, c: SynthConfig, with_posterior: bool = True):
        super().__init__()
        self.cfg = c
        self.enc_p = PriorEncoder(c)
        self.dec = NSFGenerator(c)
        if with_posterior:
            self.enc_q = PosteriorEncoder(c)
        self.flow = Flow(c)
        self.emb_g = nn.Embedding(c.spk_embed_dim, c.gin_channels)

    def forward(self, phone, lengths, pitch, f0, spec, spec_lengths, sid, segment_frames: int):
        """Training pass: returns (audio of a random segment, segment starts, latent terms for KL)."""
        g = self.emb_g(sid).unsqueeze(-1)
        m_p, logs_p, _x_mask = self.enc_p(phone, pitch, lengths)
        z, _m_q, logs_q, y_mask = self.enc_q(spec, spec_lengths, g)
        z_p = self.flow(z, y_mask, g)
        starts = random_starts(spec_lengths, segment_frames)
        z_seg = slice_frames(z, starts, segment_frames)
        f0_seg = slice_frames(f0.unsqueeze(1), starts, segment_frames).squeeze(1)
        audio = self.dec(z_seg, f0_seg, g)
        return audio, starts, y_mask, (z_p, m_p, logs_p, logs_q)

    def infer(self, phone, pitch, f0, sid=None, rnd=None, noise=None, skip_head=None, noise_scale=0.66666):
        """Inference: (1, T, C) content, (1, T) coarse pitch, (1, T) f0 Hz -> (1, 1, (T-skip)*hop) audio.
        `rnd` (1, inter, T) and `noise` (1, 1, (T-skip)*hop) make it deterministic; `skip_head`
        (0-d int tensor) decodes only frames [skip_head:], the streaming converter's new tail."""
        b, t = pitch.shape
        if sid is None:
            sid = torch.zeros(b, dtype=torch.long, device=pitch.device)
        g = self.emb_g(sid).unsqueeze(-1)
        lengths = torch.full((b,), t, dtype=torch.long, device=pitch.device)
        m_p, logs_p, mask = self.enc_p(phone, pitch, lengths)
        if rnd is None:
            rnd = torch.randn_like(m_p)
        z_p = (m_p + torch.exp(logs_p) * rnd * noise_scale) * mask
        if skip_head is None:
            return self.dec(self.flow(z_p, mask, g, reverse=True), f0, g, noise)
        # The flow only needs its receptive field (flow_context frames) before the decoded tail: the
        # result on frames [skip_head:] is exactly that of the flow over the whole window.
        dev = pitch.device
        head = torch.clamp(skip_head - self.flow_context, min=0)
        window = torch.arange(head, t, device=dev)
        z = self.flow(z_p.index_select(2, window), mask.index_select(2, window), g, reverse=True)
        z = z.index_select(2, torch.arange(skip_head - head, t - head, device=dev))
        return self.dec(z, f0.index_select(1, torch.arange(skip_head, t, device=dev)), g, noise)

    @property
    def flow_context(self) -> int:
        """Frames on each side that the coupling WaveNets see (kernel 5, dilation 1)."""
        return 2 * self.cfg.flow_layers * self.cfg.n_flows

    def remove_weight_norm(self):
        self.dec.remove_weight_norm()
        for f in self.flow.flows[::2]:
            f.enc.remove_weight_norm()

    @classmethod
    def for_inference(cls, c: SynthConfig, state: dict) -> Synthesizer:
        """The inference network from a (training or RVC inference) state dict: no posterior encoder,
        fp32, weight norm folded into the weights, eval mode."""
        net = cls(c, with_posterior=False)
        net.load_state_dict({k: v.float() for k, v in state.items() if not k.startswith("enc_q.")})
        net.remove_weight_norm()
        return net.eval()


def random_starts(lengths: torch.Tensor, segment: int) -> torch.Tensor:
    high = (lengths - segment + 1).clamp(min=1)
    return (torch.rand(lengths.shape, device=lengths.device) * high).long()


def slice_frames(x: torch.Tensor, starts: torch.Tensor, segment: int) -> torch.Tensor:
    """(b, c, t) -> (b, c, segment) windows starting at `starts` (zero-padded past the end)."""
    if x.size(2) < segment + int(starts.max()):
        x = F.pad(x, (0, segment + int(starts.max()) - x.size(2)))
    return torch.stack([x[i, :, s : s + segment] for i, s in enumerate(starts.tolist())])


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
