"""Stage `voice_train`: voice features -> an RVC-v2-compatible synthesizer and a retrieval index.

    python -m pipelines.voice_train                                   # tiny model, CPU demo
    python -m pipelines.voice_train voice_train/model=48k_v2 voice_train.init=pretrained \
        voice_train.learning_rate=1e-4 voice_train.epochs=200        # RVC's recipe on a GPU

Reads `manifest.jsonl` of voice_features (content features and f0 at 100 fps, model-rate wavs).
Trains G (`runtime.voice.synth.Synthesizer`) and D (`model.MultiPeriodDiscriminator`) with RVC's
losses: D least-squares; G adversarial + feature matching + c_mel * L1(log-mel) + c_kl * KL.
`init=pretrained` loads the user-supplied public bases (f0G48k.pth / f0D48k.pth) first.
Checkpoints every `save_every_epochs` go to `<output>/checkpoints` (outside the DVC output); a rerun
with the same config and data resumes from the newest. Losses are logged with dvclive to
`<output>/dvclive`. Writes `<output>/model/`: `G.pth` ({"model": state dict, "config": ...}, RVC's
training-checkpoint layout), `features.index` (faiss IVF-Flat), `config.yaml`, `summary.json`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn import functional as F

from pipelines.stage import StageError
from pipelines.voice_train import model as M
from runtime.voice.synth import SynthConfig, Synthesizer, parameter_count, slice_frames

log = logging.getLogger("still.voice_train")

PRETRAINED_SOURCE = (
    "the RVC WebUI pretrained v2 bases (pretrained_v2/f0G{tag}.pth and f0D{tag}.pth, published with the RVC "
    "WebUI's assets on its model-hub page); download them yourself and place them there, or set "
    "voice_train.pretrained.generator/discriminator, or use voice_train.init=scratch"
)


# ---- data ----------------------------------------------------------------------------------------
@dataclass
class Piece:
    id: str  # the manifest's piece id
    phone: np.ndarray  # (n, C) content features, 100 fps
    pitch: np.ndarray  # (n,) coarse 1..255
    f0: np.ndarray  # (n,) Hz
    wav: np.ndarray  # (n * hop,) model-rate audio
    spec: np.ndarray  # (n_fft/2+1, n) linear magnitude


def synth_config(cfg: DictConfig) -> SynthConfig:
    return SynthConfig.from_dict(OmegaConf.to_container(cfg.voice_train.model.synth, resolve=True))


def load_pieces(cfg: DictConfig, rows: list[dict], feature_dir: Path, read_wav) -> list[Piece]:
    """Align every manifest row on the frame grid; linear spectrograms are computed once here. Rows
    shorter than 4 frames are left out (`run` reports them)."""
    m = cfg.voice_train.model
    hop, sr = int(m.hop_length), int(m.sample_rate)
    pieces = []
    for row in rows:
        phone = np.load(feature_dir / row["features"]).astype(np.float32)
        f0 = np.load(feature_dir / row["f0"]).astype(np.float32)
        pitch = np.load(feature_dir / row["f0_coarse"]).astype(np.int64)
        wav = read_wav(row["wav"], sr)
        n = min(len(phone), len(f0), len(wav) // hop)
        if n < 4:
            continue
        wav = wav[: n * hop]
        spec = M.linear_spectrogram(torch.from_numpy(wav)[None], int(m.filter_length), hop, int(m.win_length))
        n = min(n, spec.shape[-1])
        pieces.append(
            Piece(row["piece"], phone[:n], pitch[:n], f0[:n], wav[: n * hop], spec[0, :, :n].numpy())
        )
    if not pieces:
        raise StageError(
            "voice_train: no usable pieces in the voice_features manifest (all shorter than 4 frames)"
        )
    if pieces[0].phone.shape[1] != int(m.synth.content_dim):
        raise StageError(
            f"voice_train: features are {pieces[0].phone.shape[1]}-dim but the model expects "
            f"{m.synth.content_dim} (voice_train.model.synth.content_dim; v2 = 768, v1 = 256)"
        )
    return pieces


def collate(pieces: list[Piece], hop: int, segment_frames: int) -> dict[str, torch.Tensor]:
    n = max(max(len(p.f0) for p in pieces), segment_frames)
    b = len(pieces)
    out = {
        "phone": torch.zeros(b, n, pieces[0].phone.shape[1]),
        "pitch": torch.ones(b, n, dtype=torch.long),
        "f0": torch.zeros(b, n),
        "spec": torch.zeros(b, pieces[0].spec.shape[0], n),
        "wav": torch.zeros(b, 1, n * hop),
        "lengths": torch.tensor([len(p.f0) for p in pieces]),
    }
    for i, p in enumerate(pieces):
        k = len(p.f0)
        out["phone"][i, :k] = torch.from_numpy(p.phone)
        out["pitch"][i, :k] = torch.from_numpy(p.pitch)
        out["f0"][i, :k] = torch.from_numpy(p.f0)
        out["spec"][i, :, :k] = torch.from_numpy(p.spec)
        out["wav"][i, 0, : k * hop] = torch.from_numpy(p.wav)
    return out


# ---- models, pretrained bases, checkpoints -------------------------------------------------------
def build_models(cfg: DictConfig) -> tuple[Synthesizer, M.MultiPeriodDiscriminator]:
    d = cfg.voice_train.model.discriminator
    return Synthesizer(synth_config(cfg)), M.MultiPeriodDiscriminator(tuple(d.periods), int(d.width))


def state_dict_of(obj) -> dict:
    """A bare state dict from a loaded checkpoint (RVC bases store it under "model")."""
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        return obj["model"]
    if isinstance(obj, dict) and "weight" in obj and isinstance(obj["weight"], dict):
        return obj["weight"]
    return obj


def load_compatible(module: torch.nn.Module, state: dict, what: str) -> None:
    """Strict by names and shapes: a base for another architecture is refused, not half-loaded."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:4])}{' …' if len(keys) > 4 else ''} ({len(keys)})"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong))
            if keys
        )
        raise StageError(f"{what} does not match the configured architecture: {detail}")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_pretrained(cfg: DictConfig, net_g, net_d) -> None:
    tag = cfg.voice_train.model.pretrained_tag
    if tag is None:
        raise StageError(
            "voice_train.init=pretrained: this model preset has no public bases; use init=scratch"
        )
    for path, net, kind in (
        (Path(cfg.voice_train.pretrained.generator), net_g, "generator"),
        (Path(cfg.voice_train.pretrained.discriminator), net_d, "discriminator"),
    ):
        if not path.is_file():
            raise StageError(
                f"pretrained {kind} {path} not found (voice_train.pretrained.{kind}): it is "
                + PRETRAINED_SOURCE.format(tag=tag)
            )
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise StageError(f"{path} is not a readable torch checkpoint: {e}") from None
        load_compatible(net, state_dict_of(obj), str(path))
        log.info("voice_train: loaded pretrained %s %s", kind, path)


def run_key(cfg: DictConfig, rows: list[dict]) -> str:
    """What a checkpoint belongs to; epochs, device, progress, saving and logging settings may change."""
    vt = OmegaConf.to_container(cfg.voice_train, resolve=True)
    for k in (
        "epochs",
        "progress",
        "save_every_epochs",
        "keep_checkpoints",
        "log_every_steps",
        "index",
        "output",
        "device",
    ):
        vt.pop(k, None)
    basis = {"voice_train": vt, "data": [(r["piece"], r["frames"]) for r in rows]}
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()[:16]


CHECKPOINT = "last.pt"


def save_checkpoint(folder: Path, state: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{CHECKPOINT}.tmp"
    torch.save(state, tmp)
    tmp.replace(folder / CHECKPOINT)  # atomic: a kill while saving keeps the previous checkpoint


def resume_state(folder: Path, key: str) -> dict | None:
    path = folder / CHECKPOINT
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        log.warning("voice_train: unreadable checkpoint %s (%s); starting over", path, e)
        return None
    if state.get("run_key") != key:
        log.info("voice_train: checkpoint %s belongs to another config/data; starting over", path)
        return None
    return state


# ---- training --------------------------------------------------------------------------------------
def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise StageError("voice_train.device=cuda but no CUDA device is available")
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device):
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else None
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


class Trainer:
    """One G/D step of RVC's recipe; holds models, optimizers, schedulers and the grad scaler."""

    def __init__(self, cfg: DictConfig, net_g, net_d, device):
        t = cfg.voice_train
        self.cfg, self.m, self.device = cfg, cfg.voice_train.model, device
        self.net_g, self.net_d = net_g.to(device), net_d.to(device)
        opt = dict(lr=float(t.learning_rate), betas=tuple(t.betas), eps=float(t.eps))
        self.opt_g = torch.optim.AdamW(self.net_g.parameters(), **opt)
        self.opt_d = torch.optim.AdamW(self.net_d.parameters(), **opt)
        self.sched_g = torch.optim.lr_scheduler.ExponentialLR(self.opt_g, gamma=float(t.lr_decay))
        self.sched_d = torch.optim.lr_scheduler.ExponentialLR(self.opt_d, gamma=float(t.lr_decay))
        self.amp = autocast_dtype(str(t.precision), device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp == torch.float16)
        self.segment = int(self.m.synth.segment_frames)
        self.hop = int(self.m.hop_length)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp) if self.amp is not None else nullcontext()

    def mel(self, audio):
        m = self.m
        return M.mel_spectrogram(
            audio,
            int(m.sample_rate),
            int(m.filter_length),
            self.hop,
            int(m.win_length),
            int(m.n_mel_channels),
            float(m.mel_fmin),
            m.mel_fmax,
        )

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        t, m = self.cfg.voice_train, self.m
        b = {k: v.to(self.device) for k, v in batch.items()}
        sid = torch.zeros(len(b["lengths"]), dtype=torch.long, device=self.device)
        with self.autocast():
            y_hat, starts, y_mask, (z_p, m_p, logs_p, logs_q) = self.net_g(
                b["phone"], b["lengths"], b["pitch"], b["f0"], b["spec"], b["lengths"], sid, self.segment
            )
        with torch.no_grad():
            mel_all = M.spec_to_mel(
                b["spec"].float(),
                int(m.sample_rate),
                int(m.filter_length),
                int(m.n_mel_channels),
                float(m.mel_fmin),
                m.mel_fmax,
            )
            y_mel = slice_frames(mel_all, starts, self.segment)
            wave = slice_frames(b["wav"], starts * self.hop, self.segment * self.hop)
        y_hat_mel = self.mel(y_hat.float().squeeze(1))

        # discriminator
        with self.autocast():
            real, fake, _, _ = self.net_d(wave, y_hat.detach())
        loss_d = M.discriminator_loss(real, fake)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        self._clip(self.opt_d, self.net_d)
        self.scaler.step(self.opt_d)

        # generator
        with self.autocast():
            _, fake, fmap_r, fmap_g = self.net_d(wave, y_hat)
        loss_mel = F.l1_loss(y_mel, y_hat_mel) * float(t.c_mel)
        loss_kl = M.kl_loss(z_p, logs_q, m_p, logs_p, y_mask) * float(t.c_kl)
        loss_fm = M.feature_matching_loss(fmap_r, fmap_g)
        loss_adv = M.generator_adversarial_loss(fake)
        loss_g = loss_adv + loss_fm + loss_mel + loss_kl
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self._clip(self.opt_g, self.net_g)
        self.scaler.step(self.opt_g)
        self.scaler.update()
        return {
            "d/total": loss_d.item(),
            "g/total": loss_g.item(),
            "g/adv": loss_adv.item(),
            "g/fm": loss_fm.item(),
            "g/mel": loss_mel.item(),
            "g/kl": loss_kl.item(),
        }

    def _clip(self, opt, net):
        if self.cfg.voice_train.grad_clip:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(net.parameters(), float(self.cfg.voice_train.grad_clip))

    def state(self) -> dict:
        return {
            "net_g": self.net_g.state_dict(),
            "net_d": self.net_d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load(self, state: dict) -> None:
        self.net_g.load_state_dict(state["net_g"])
        self.net_d.load_state_dict(state["net_d"])
        for name in ("opt_g", "opt_d", "sched_g", "sched_d", "scaler"):
            getattr(self, name).load_state_dict(state[name])


def live_logger(live_dir: Path, resume: bool):
    from dvclive import Live

    # dvcyaml=None: dvc.yaml declares the metrics and plots; dvclive must not edit it
    return Live(
        str(live_dir), resume=resume, dvcyaml=None, save_dvc_exp=False, report=None, monitor_system=False
    )


def train(
    cfg: DictConfig, pieces: list[Piece], key: str, out: Path, callback=None
) -> tuple[Synthesizer, dict]:
    """The training loop: resumes from `<out>/checkpoints`, logs to `<out>/dvclive`; returns (G, summary).
    `callback(step, losses)` sees every step (tests use it)."""
    from tqdm.auto import tqdm

    t = cfg.voice_train
    torch.manual_seed(int(t.seed))
    device = pick_device(str(t.device))
    net_g, net_d = build_models(cfg)
    ckpt_dir, live_dir = out / "checkpoints", out / "dvclive"
    state = resume_state(ckpt_dir, key)
    if state is None and str(t.init) == "pretrained":
        load_pretrained(cfg, net_g, net_d)
    elif str(t.init) not in ("scratch", "pretrained"):
        raise StageError(f"voice_train.init={t.init}: choose scratch or pretrained")
    trainer = Trainer(cfg, net_g, net_d, device)
    epoch0, step = 0, 0
    if state is not None:
        trainer.load(state)
        epoch0, step = int(state["epoch"]), int(state["step"])
        torch.set_rng_state(state["rng"])
        log.info("voice_train: resuming after epoch %d (step %d)", epoch0, step)
    live = live_logger(live_dir, resume=state is not None)
    rng = np.random.default_rng(int(t.seed) + epoch0)
    bs = int(t.batch_size)
    steps_per_epoch = math.ceil(len(pieces) / bs)
    log.info(
        "voice_train: G %.2fM / D %.2fM params, %d pieces, %d steps/epoch on %s (%s)",
        parameter_count(net_g) / 1e6,
        parameter_count(net_d) / 1e6,
        len(pieces),
        steps_per_epoch,
        device,
        trainer.amp or "fp32",
    )
    first = last = None
    t0 = time.time()
    bar = tqdm(
        total=int(t.epochs) * steps_per_epoch,
        initial=epoch0 * steps_per_epoch,
        disable=not t.progress,
        desc="voice_train",
        unit="step",
    )
    net_g.train(), net_d.train()
    for epoch in range(epoch0, int(t.epochs)):
        order = rng.permutation(len(pieces))
        for i in range(0, len(order), bs):
            batch = collate([pieces[j] for j in order[i : i + bs]], trainer.hop, trainer.segment)
            losses = trainer.step(batch)
            step += 1
            first = first or losses
            last = losses
            if callback:
                callback(step, losses)
            if step % int(t.log_every_steps) == 0:
                live.step = step
                for name, value in losses.items():
                    live.log_metric(f"train/{name}", value)
                live.log_metric("train/lr", trainer.opt_g.param_groups[0]["lr"])
                live.log_metric("train/epoch", epoch + 1)
                live.make_summary()
            bar.set_postfix(mel=f"{losses['g/mel']:.2f}", d=f"{losses['d/total']:.2f}")
            bar.update()
        trainer.sched_g.step()
        trainer.sched_d.step()
        if (epoch + 1) % int(t.save_every_epochs) == 0 or epoch + 1 == int(t.epochs):
            save_checkpoint(
                ckpt_dir,
                {
                    **trainer.state(),
                    "epoch": epoch + 1,
                    "step": step,
                    "run_key": key,
                    "rng": torch.get_rng_state(),
                },
            )
    bar.close()
    live.end()
    summary = {
        "steps": step,
        "epochs": int(t.epochs),
        "resumed_from_epoch": epoch0,
        "first_losses": first,
        "last_losses": last,
        "train_seconds_this_run": round(time.time() - t0, 1),
        "device": device.type,
        "precision": str(trainer.amp or "fp32"),
        "params_g": parameter_count(net_g),
        "params_d": parameter_count(net_d),
        "init": str(t.init),
    }
    return net_g.cpu().eval(), summary


# ---- retrieval index -----------------------------------------------------------------------------------
def n_ivf(n: int) -> int:
    """RVC's IVF list count: min(16*sqrt(N), N//39), at least 1."""
    return max(1, min(int(16 * math.sqrt(n)), n // 39))


def build_index(features: np.ndarray, nprobe: int = 1):
    """faiss IVF-Flat (L2) over all training content features (N, C) float32."""
    try:
        import faiss
    except ImportError:
        raise StageError("voice_train needs faiss for the retrieval index: pip install faiss-cpu") from None
    x = np.ascontiguousarray(features, dtype=np.float32)
    index = faiss.index_factory(x.shape[1], f"IVF{n_ivf(len(x))},Flat")
    index.train(x)
    for i in range(0, len(x), 8192):
        index.add(x[i : i + 8192])
    faiss.extract_index_ivf(index).nprobe = nprobe
    return index


def index_features(pieces: list[Piece], frame_step: int, seed: int = 0) -> np.ndarray:
    """Every `frame_step`-th content frame of every piece, in a shuffled order: retrieval only needs
    the set of vectors, and without their order the speech cannot be read back frame by frame."""
    feats = np.concatenate([p.phone[::frame_step] for p in pieces]).astype(np.float32)
    return feats[np.random.default_rng(seed).permutation(len(feats))]


def run(cfg: DictConfig, rows: list[dict], feature_dir: Path, read_wav, out: Path, callback=None) -> dict:
    """Train; write `<out>/model` (G.pth, features.index, config.yaml, summary.json); return the summary."""
    from pipelines.atomic import atomic_path, write_json, write_text

    t = cfg.voice_train
    if t.max_pieces:
        rows = rows[: int(t.max_pieces)]
    pieces = load_pieces(cfg, rows, feature_dir, read_wav)
    key = run_key(cfg, rows)
    net_g, summary = train(cfg, pieces, key, out, callback)
    used = {p.id for p in pieces}
    summary["pieces"] = {
        "manifest": len(rows),
        "used": len(pieces),
        "dropped_shorter_than_4_frames": [r["piece"] for r in rows if r["piece"] not in used],
    }

    feats = index_features(pieces, int(t.index.frame_step), int(t.seed))
    index = build_index(feats, int(t.index.nprobe))  # StageError if faiss is missing
    import faiss

    summary["index"] = {"vectors": int(index.ntotal), "dim": int(feats.shape[1]), "n_ivf": n_ivf(len(feats))}
    sc = synth_config(cfg)
    recipe = {"voice_train": OmegaConf.to_container(cfg.voice_train, resolve=True)}
    for path_key in ("input", "output", "pretrained"):  # locations on this machine, not the recipe
        recipe["voice_train"].pop(path_key, None)
    with atomic_path(out / "model") as folder:
        folder.mkdir(parents=True)
        torch.save(
            {
                "model": net_g.state_dict(),
                "config": sc.to_dict(),
                "rvc_config": sc.rvc_config(),
                "iteration": summary["steps"],
                "version": sc.version,
            },
            folder / "G.pth",
        )
        faiss.write_index(index, str(folder / "features.index"))
        write_text(folder / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(recipe)))
        write_json(folder / "summary.json", summary)
    if not t.keep_checkpoints:
        import shutil

        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    return summary
