"""voice_train: the RVC v2 synthesizer and discriminators (sizes, public checkpoint names and shapes,
relative attention against a naive reference), the tiny config learning (mel loss falls), resuming
after an interruption, the retrieval index sizing, and a one-step smoke test of the full 48k config."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from pipelines.stage import StageError
from pipelines.voice_train import model as M
from runtime.voice import pitch
from runtime.voice.synth import RelativeSelfAttention, SynthConfig, Synthesizer, parameter_count

SR = 48000
HOP = 480


# ---- synthetic training data: harmonic tones whose content features encode the spectral envelope ----
def synthetic_piece(rng, seconds=1.2, f0_base=None):
    n = int(seconds * 100)
    f0_base = f0_base or rng.uniform(120, 260)
    frames = np.arange(n)
    f0 = (f0_base * (1 + 0.05 * np.sin(2 * np.pi * frames / rng.uniform(40, 90)))).astype(np.float32)
    f0[rng.integers(0, n - 20) :][:15] = 0  # an unvoiced stretch
    f0_up = np.repeat(f0, HOP)
    phase = 2 * np.pi * np.cumsum(f0_up) / SR
    tilt = rng.uniform(0.5, 1.5)
    x = sum(np.sin(k * phase) / k**tilt for k in range(1, 20)) * (f0_up > 0)
    x = x + 0.01 * rng.standard_normal(len(x)) * (f0_up == 0)
    x = (0.3 * x / np.max(np.abs(x))).astype(np.float32)
    proj = np.random.default_rng(0).standard_normal((2, 768)).astype(np.float32)
    feats = np.outer(np.full(n, tilt), proj[0]) + np.outer((f0 > 0).astype(np.float32), proj[1])
    feats = feats + 0.1 * rng.standard_normal(feats.shape)
    return {"features": feats.astype(np.float32), "f0": f0, "wav": x}


def write_dataset(folder, n_pieces=4, seconds=1.2, seed=0):
    """A voice_features-like folder: manifest.jsonl + features/f0/f0_coarse .npy + model-rate wavs."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    rows = []
    for sub in ("features", "f0", "f0_coarse", "wav"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n_pieces):
        p = synthetic_piece(rng, seconds)
        pid = f"P{i:03d}"
        np.save(folder / "features" / f"{pid}.npy", p["features"])
        np.save(folder / "f0" / f"{pid}.npy", p["f0"])
        np.save(folder / "f0_coarse" / f"{pid}.npy", pitch.coarse_f0(p["f0"]))
        sf.write(folder / "wav" / f"{pid}.wav", p["wav"], SR, subtype="FLOAT")
        x16 = p["wav"][::3]
        sf.write(folder / "wav" / f"{pid}_16k.wav", x16, 16000, subtype="FLOAT")
        rows.append(
            {
                "piece": pid,
                "wav": str(folder / "wav" / f"{pid}.wav"),
                "wav16k": str(folder / "wav" / f"{pid}_16k.wav"),
                "features": f"features/{pid}.npy",
                "f0": f"f0/{pid}.npy",
                "f0_coarse": f"f0_coarse/{pid}.npy",
                "frames": len(p["f0"]),
                "seconds": seconds,
            }
        )
    (folder / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return rows


def read_wav(path, sr):
    import soundfile as sf

    x, sr_in = sf.read(path, dtype="float32")
    assert sr_in == sr
    return x


# ---- architecture ------------------------------------------------------------------------------------
def test_relative_attention_matches_naive_definition():
    torch.manual_seed(0)
    att = RelativeSelfAttention(8, 2, window=3).eval()
    with torch.no_grad():
        att.emb_rel_k.normal_()
        att.emb_rel_v.normal_()
    t = 9
    x = torch.randn(1, 8, t)
    mask = torch.ones(1, 1, t, t)
    mask[..., 7:] = 0  # the last two keys are padding
    got = att(x, mask)
    q, k, v = att.conv_q(x), att.conv_k(x), att.conv_v(x)
    out = torch.zeros(1, 8, t)
    for h in range(2):
        qs, ks, vs = (y[0, 4 * h : 4 * h + 4].T for y in (q, k, v))  # (t, 4)
        s = torch.zeros(t, t)
        for i in range(t):
            for j in range(t):
                r = j - i
                s[i, j] = qs[i] @ ks[j] / 2.0
                if abs(r) <= 3:
                    s[i, j] += qs[i] @ att.emb_rel_k[0, r + 3] / 2.0
                if j >= 7:
                    s[i, j] = -1e4
        p = torch.softmax(s, -1)
        for i in range(t):
            o = sum(p[i, j] * vs[j] for j in range(t))
            o = o + sum(p[i, j] * att.emb_rel_v[0, j - i + 3] for j in range(t) if abs(j - i) <= 3)
            out[0, 4 * h : 4 * h + 4, i] = o
    want = att.conv_o(out)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_full_size_parameter_counts():
    g, d = Synthesizer(SynthConfig()), M.MultiPeriodDiscriminator()
    assert abs(parameter_count(g) / 1e6 - 37.6) < 0.1  # voice-notes: G 37.6M, D 71.4M
    assert abs(parameter_count(d) / 1e6 - 71.4) < 0.1
    assert SynthConfig().hop == 480


def rvc_v2_48k_generator_shapes() -> dict[str, tuple]:
    """Key names and shapes of the public f0G48k.pth ("model" dict), written out from RVC's v2 48k
    architecture independently of our module code (weight-normed convs: weight_g + weight_v)."""
    s: dict[str, tuple] = {}

    def conv(name, cout, cin, k, wn=False, bias=True):
        if wn:
            s[f"{name}.weight_g"] = (cout, 1, 1)
            s[f"{name}.weight_v"] = (cout, cin, k)
        else:
            s[f"{name}.weight"] = (cout, cin, k)
        if bias:
            s[f"{name}.bias"] = (cout,)

    def wavenet(p, layers, hidden=192, gin=256):
        conv(f"{p}.cond_layer", 2 * hidden * layers, gin, 1, wn=True)
        for i in range(layers):
            conv(f"{p}.in_layers.{i}", 2 * hidden, hidden, 5, wn=True)
            conv(f"{p}.res_skip_layers.{i}", 2 * hidden if i < layers - 1 else hidden, hidden, 1, wn=True)

    s["enc_p.emb_phone.weight"], s["enc_p.emb_phone.bias"] = (192, 768), (192,)
    s["enc_p.emb_pitch.weight"] = (256, 192)
    for i in range(6):
        a = f"enc_p.encoder.attn_layers.{i}"
        for c in "qkvo":
            conv(f"{a}.conv_{c}", 192, 192, 1)
        s[f"{a}.emb_rel_k"] = s[f"{a}.emb_rel_v"] = (1, 21, 96)
        for n in (1, 2):
            s[f"enc_p.encoder.norm_layers_{n}.{i}.gamma"] = s[f"enc_p.encoder.norm_layers_{n}.{i}.beta"] = (
                192,
            )
        conv(f"enc_p.encoder.ffn_layers.{i}.conv_1", 768, 192, 3)
        conv(f"enc_p.encoder.ffn_layers.{i}.conv_2", 192, 768, 3)
    conv("enc_p.proj", 384, 192, 1)
    # decoder
    s["dec.m_source.l_linear.weight"], s["dec.m_source.l_linear.bias"] = (1, 1), (1,)
    conv("dec.conv_pre", 512, 192, 7)
    conv("dec.cond", 512, 256, 1)
    ups, kernels, ch = [12, 10, 2, 2], [24, 20, 4, 4], 512
    for i, k in enumerate(kernels):
        cout = ch // 2 ** (i + 1)
        s[f"dec.ups.{i}.weight_g"], s[f"dec.ups.{i}.weight_v"] = (ch // 2**i, 1, 1), (ch // 2**i, cout, k)
        s[f"dec.ups.{i}.bias"] = (cout,)
        stride = math.prod(ups[i + 1 :])
        conv(f"dec.noise_convs.{i}", cout, 1, 2 * stride if i < 3 else 1)
        for j, rk in enumerate([3, 7, 11]):
            for part in ("convs1", "convs2"):
                for m in range(3):
                    conv(f"dec.resblocks.{3 * i + j}.{part}.{m}", cout, cout, rk, wn=True)
    s["dec.conv_post.weight"] = (1, 32, 7)
    # posterior encoder (training only), flows, speaker embedding
    conv("enc_q.pre", 192, 1025, 1)
    wavenet("enc_q.enc", 16)
    conv("enc_q.proj", 384, 192, 1)
    for f in (0, 2, 4, 6):
        conv(f"flow.flows.{f}.pre", 192, 96, 1)
        wavenet(f"flow.flows.{f}.enc", 3)
        conv(f"flow.flows.{f}.post", 96, 192, 1)
    s["emb_g.weight"] = (109, 256)
    return s


def rvc_v2_discriminator_shapes() -> dict[str, tuple]:
    s: dict[str, tuple] = {}

    def wn(name, shape):
        s[f"{name}.weight_g"] = (shape[0],) + (1,) * (len(shape) - 1)
        s[f"{name}.weight_v"] = shape
        s[f"{name}.bias"] = (shape[0],)

    scale = [(16, 1, 15), (64, 4, 41), (256, 4, 41), (1024, 4, 41), (1024, 4, 41), (1024, 1024, 5)]
    for i, shape in enumerate(scale):
        wn(f"discriminators.0.convs.{i}", shape)
    wn("discriminators.0.conv_post", (1, 1024, 3))
    chans = [1, 32, 128, 512, 1024, 1024]
    for d in range(1, 9):
        for i in range(5):
            wn(f"discriminators.{d}.convs.{i}", (chans[i + 1], chans[i], 5, 1))
        wn(f"discriminators.{d}.conv_post", (1, 1024, 3, 1))
    return s


@pytest.fixture(scope="module")
def full_size_models():
    return Synthesizer(SynthConfig()), M.MultiPeriodDiscriminator()


def test_public_checkpoint_names_and_shapes_load(full_size_models, make_cfg, tmp_path):
    from pipelines.voice_train import load_pretrained

    net_g, net_d = full_size_models
    for net, want in ((net_g, rvc_v2_48k_generator_shapes()), (net_d, rvc_v2_discriminator_shapes())):
        ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        assert set(ours) == set(want), (sorted(set(ours) - set(want))[:5], sorted(set(want) - set(ours))[:5])
        assert ours == want
    # files laid out like the public bases: {"model": state dict, ...} with those names, fp16 like theirs
    g_state = {k: torch.full(v, 0.01, dtype=torch.float16) for k, v in rvc_v2_48k_generator_shapes().items()}
    d_state = {k: torch.full(v, 0.02, dtype=torch.float16) for k, v in rvc_v2_discriminator_shapes().items()}
    torch.save({"model": g_state, "iteration": 1, "learning_rate": 1e-4}, tmp_path / "f0G48k.pth")
    torch.save({"model": d_state, "iteration": 1, "learning_rate": 1e-4}, tmp_path / "f0D48k.pth")
    cfg = make_cfg(
        "voice_train/model=48k_v2",
        "voice_train.init=pretrained",
        f"voice_train.pretrained.generator={tmp_path / 'f0G48k.pth'}",
        f"voice_train.pretrained.discriminator={tmp_path / 'f0D48k.pth'}",
    )
    load_pretrained(cfg, net_g, net_d)
    assert torch.all(net_g.enc_p.emb_phone.weight == torch.tensor(0.01, dtype=torch.float16).float())
    assert torch.all(
        net_d.discriminators[3].convs[2].weight_v == torch.tensor(0.02, dtype=torch.float16).float()
    )


def test_pretrained_errors_name_the_file(make_cfg, tmp_path):
    from pipelines.voice_train import build_models, load_compatible, load_pretrained

    cfg = make_cfg("voice_train/model=48k_v2", "voice_train.init=pretrained")
    tiny_g, d = build_models(make_cfg())
    with pytest.raises(StageError, match=r"f0G48k\.pth not found.*RVC WebUI"):
        load_pretrained(cfg, tiny_g, d)
    with pytest.raises(StageError, match=r"does not match the configured architecture: .*shape mismatch"):
        load_compatible(tiny_g, {k: torch.zeros(1) for k in tiny_g.state_dict()}, "x.pth")
    with pytest.raises(StageError, match="no public bases"):
        load_pretrained(make_cfg("voice_train.init=pretrained"), tiny_g, d)


@pytest.mark.parametrize(
    "preset,sr,hop", [("48k_v2", 48000, 480), ("40k_v2", 40000, 400), ("32k_v2", 32000, 320)]
)
def test_presets_are_consistent(make_cfg, preset, sr, hop):
    cfg = make_cfg(f"voice_train/model={preset}")
    m = cfg.voice_train.model
    c = SynthConfig.from_dict(OmegaConf.to_container(m.synth, resolve=True))
    assert c.sample_rate == m.sample_rate == sr and c.hop == m.hop_length == hop == sr // 100
    assert c.spec_channels == m.filter_length // 2 + 1 and m.segment_size == c.segment_frames * hop
    assert SynthConfig.from_rvc_config(c.rvc_config()) == c


def test_index_sizing_follows_rvc():
    from pipelines.voice_train import build_index, n_ivf

    assert n_ivf(30000) == min(int(16 * math.sqrt(30000)), 30000 // 39) == 769
    assert n_ivf(1_000_000) == 16000 and n_ivf(10) == 1
    x = np.random.default_rng(0).standard_normal((2000, 32)).astype(np.float32)
    index = build_index(x)
    assert index.ntotal == 2000
    _d, i = index.search(x[:5], 1)
    assert (
        np.all(i[:, 0] == np.arange(5)) or np.mean(i[:, 0] == np.arange(5)) >= 0.6
    )  # nprobe 1 is approximate


# ---- training ----------------------------------------------------------------------------------------
TINY_FAST = ("voice_train.progress=false", "voice_train.batch_size=2", "voice_train.learning_rate=1e-3")


def test_tiny_config_learns(make_cfg, tmp_path):
    """Mel L1 (x45) over the last 20 steps must fall well below the first 20 (measured ~0.4x)."""
    from pipelines.voice_train import load_pieces, train

    rows = write_dataset(tmp_path / "feats", n_pieces=4, seconds=0.8)
    cfg = make_cfg(*TINY_FAST, "voice_train.epochs=60", "voice_train.save_every_epochs=1000")
    pieces = load_pieces(cfg, rows, tmp_path / "feats", read_wav)
    mel = []
    train(cfg, pieces, "k", tmp_path / "out", callback=lambda step, losses: mel.append(losses["g/mel"]))
    assert len(mel) == 120
    first, last = np.mean(mel[:20]), np.mean(mel[-20:])
    assert last < 0.7 * first, (first, last)
    metrics = json.loads((tmp_path / "out" / "dvclive" / "metrics.json").read_text())
    assert metrics["step"] == 120 and "g" in metrics["train"] and "mel" in metrics["train"]["g"]


def test_interrupted_run_resumes(make_cfg, tmp_path):
    from pipelines.voice_train import load_pieces, run_key, train

    rows = write_dataset(tmp_path / "feats", n_pieces=2, seconds=0.5)
    base = (*TINY_FAST, "voice_train.save_every_epochs=1")
    cfg1 = make_cfg(*base, "voice_train.epochs=2")
    pieces = load_pieces(cfg1, rows, tmp_path / "feats", read_wav)
    out = tmp_path / "out"
    _net1, s1 = train(cfg1, pieces, run_key(cfg1, rows), out)  # "killed" after epoch 2
    cfg2 = make_cfg(*base, "voice_train.epochs=3")
    assert run_key(cfg2, rows) == run_key(cfg1, rows)  # more epochs: the same run
    steps = []
    _, s2 = train(cfg2, pieces, run_key(cfg2, rows), out, callback=lambda step, losses: steps.append(step))
    assert s1["steps"] == 2 and s2["resumed_from_epoch"] == 2 and steps == [3] and s2["steps"] == 3
    # another config starts over
    cfg3 = make_cfg(*base, "voice_train.epochs=1", "voice_train.c_mel=40")
    _, s3 = train(cfg3, pieces, run_key(cfg3, rows), out)
    assert s3["resumed_from_epoch"] == 0 and s3["steps"] == 1


def test_stage_writes_model_and_index(make_cfg, data_dir, tmp_path):
    from pipelines.voice_train.__main__ import main

    feats = data_dir / "processed" / "voice_features"
    rows = write_dataset(feats, n_pieces=3, seconds=0.6)
    main([f"paths.data={data_dir}", *TINY_FAST, "voice_train.epochs=1"])
    out = data_dir / "models" / "voice_train"
    ckpt = torch.load(out / "model" / "G.pth", weights_only=True)
    assert any(k.startswith("enc_q.") for k in ckpt["model"]) and ckpt["iteration"] == 2
    summary = json.loads((out / "model" / "summary.json").read_text())
    frames = sum(len(range(0, r["frames"], 2)) for r in rows)
    assert summary["index"]["vectors"] == frames and summary["index"]["n_ivf"] == max(1, frames // 39)
    import faiss  # the index holds every indexed frame, but not in speaking order

    index = faiss.read_index(str(out / "model" / "features.index"))
    stored = index.reconstruct_n(0, index.ntotal)
    spoken = np.concatenate([np.load(feats / r["features"])[::2] for r in rows])
    assert not np.array_equal(stored, spoken)
    np.testing.assert_array_equal(np.sort(stored, axis=0), np.sort(spoken, axis=0))
    assert not (out / "checkpoints").exists()  # keep_checkpoints=false
    assert (out / "dvclive" / "metrics.json").exists()


def test_pieces_too_short_to_train_on_are_reported(data_dir):
    from pipelines.voice_train.__main__ import main

    feats = data_dir / "processed" / "voice_features"
    rows = write_dataset(feats, n_pieces=3, seconds=0.6)
    np.save(feats / rows[0]["features"], np.load(feats / rows[0]["features"])[:3])  # 3 frames left
    main([f"paths.data={data_dir}", *TINY_FAST, "voice_train.epochs=1"])
    summary = json.loads((data_dir / "models" / "voice_train" / "model" / "summary.json").read_text())
    dropped = [rows[0]["piece"]]
    assert summary["pieces"] == {"manifest": 3, "used": 2, "dropped_shorter_than_4_frames": dropped}


def test_full_size_48k_one_training_step(make_cfg, tmp_path):
    """One G+D step of the real 48k v2 config on CPU (~16 s here; under 30 s, so not marked slow)."""
    from pipelines.voice_train import Trainer, build_models, collate, load_pieces

    rows = write_dataset(tmp_path / "feats", n_pieces=1, seconds=0.5)
    cfg = make_cfg("voice_train/model=48k_v2", "voice_train.progress=false")
    pieces = load_pieces(cfg, rows, tmp_path / "feats", read_wav)
    g, d = build_models(cfg)
    trainer = Trainer(cfg, g, d, torch.device("cpu"))
    losses = trainer.step(collate(pieces, 480, 36))
    assert all(np.isfinite(v) for v in losses.values()) and losses["g/mel"] > 0
