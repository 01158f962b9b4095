"""Stage `voice_export`: the trained voice model -> the files the runtime (and the RVC ecosystem) loads.

    python -m pipelines.voice_export [overrides]

Writes `${paths.models}/voice_export/`:
- `<name>.pth`: RVC inference format, a torch-saved dict {"weight": fp16 state dict without the
  posterior encoder `enc_q`, "config": architecture list in RVC's constructor order, "sr": "48k",
  "f0": 1, "version": "v2", "info": ...};
- `<name>.index`: the faiss IVF-Flat retrieval index, plus `<name>.index.npy` (fp16 vectors) for
  runtimes without faiss;
- `<name>.onnx`: the inference graph (torch.onnx, TorchScript exporter) with inputs phone, pitch,
  f0, rnd, noise, skip_head -> audio; checked against PyTorch (max abs diff in report.json);
- `content.onnx` and `content/`: the content encoder voice_features used (ONNX and transformers);
- `pitch.onnx`: FCPE (torchfcpe's bundled weights) as one graph, so `--pitch fcpe` runs on ONNX
  Runtime too (`pitch_graph.py`; parity with torch in report.json);
- `voice.json`: what the runtime reads; `report.json`, `metrics.json`;
- `check/converted.wav`: one demo piece converted by the streaming converter (a pipeline check).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from pipelines.stage import StageError
from pipelines.voice_export.pitch_graph import export_fcpe
from runtime.voice.synth import SynthConfig, Synthesizer

log = logging.getLogger("still.voice_export")


def load_trained(model_dir: Path) -> tuple[Synthesizer, dict]:
    path = model_dir / "G.pth"
    if not path.is_file():
        raise StageError(f"{path} not found: run voice_train first (python -m pipelines.voice_train)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    cfg = SynthConfig.from_dict(ckpt["config"])
    net = Synthesizer(cfg)
    net.load_state_dict(ckpt["model"])
    return net.eval(), ckpt


def rvc_inference_dict(net: Synthesizer, info: str) -> dict:
    """RVC's small-model layout: fp16 weights without enc_q, config list, sr tag, f0 flag, version."""
    c = net.cfg
    return {
        "weight": {k: v.detach().half() for k, v in net.state_dict().items() if not k.startswith("enc_q.")},
        "config": c.rvc_config(),
        "info": info,
        "sr": f"{c.sample_rate // 1000}k",
        "f0": 1,
        "version": c.version,
    }


class InferenceGraph(torch.nn.Module):
    """The exported graph: speaker 0, explicit noise inputs, decode frames [skip_head:]."""

    def __init__(self, net: Synthesizer):
        super().__init__()
        self.net = net

    def forward(self, phone, pitch, f0, rnd, noise, skip_head):
        return self.net.infer(phone, pitch, f0, rnd=rnd, noise=noise, skip_head=skip_head, noise_scale=1.0)


def example_inputs(cfg: SynthConfig, frames: int = 64, skip: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    f0 = 120 + 100 * torch.rand(1, frames, generator=g)
    f0[:, frames // 3 : frames // 2] = 0  # an unvoiced stretch
    from runtime.voice.pitch import coarse_f0

    return (
        torch.randn(1, frames, cfg.content_dim, generator=g),
        torch.from_numpy(coarse_f0(f0.numpy())),
        f0,
        torch.randn(1, cfg.inter_channels, frames, generator=g) * 0.66666,
        torch.randn(1, 1, (frames - skip) * cfg.hop, generator=g),
        torch.tensor(skip, dtype=torch.long),
    )


SYNTH_INPUTS = ["phone", "pitch", "f0", "rnd", "noise", "skip_head"]


def export_synth_onnx(net: Synthesizer, path: Path, opset: int = 17) -> None:
    graph = InferenceGraph(Synthesizer.for_inference(net.cfg, net.state_dict())).eval()
    with torch.no_grad():
        torch.onnx.export(
            graph,
            example_inputs(net.cfg),
            str(path),
            input_names=SYNTH_INPUTS,
            output_names=["audio"],
            dynamic_axes={
                "phone": {1: "frames"},
                "pitch": {1: "frames"},
                "f0": {1: "frames"},
                "rnd": {2: "frames"},
                "noise": {2: "samples"},
                "audio": {2: "samples"},
            },
            opset_version=opset,
            dynamo=False,
        )


def onnx_parity(net: Synthesizer, path: Path, frames: int = 80, skip: int = 20) -> float:
    """Max |ONNX Runtime - PyTorch| on deterministic inputs of another length than the export's."""
    import onnxruntime as ort

    inputs = example_inputs(net.cfg, frames, skip, seed=1)
    with torch.no_grad():
        ref = InferenceGraph(net).eval()(*inputs).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {n: t.numpy() for n, t in zip(SYNTH_INPUTS, inputs, strict=True)})[0]
    if out.shape != ref.shape:
        raise StageError(f"ONNX output shape {out.shape} != torch {ref.shape}")
    return float(np.max(np.abs(out - ref)))


class ContentGraph(torch.nn.Module):
    def __init__(self, model, layer: int, proj):
        super().__init__()
        self.model, self.layer, self.proj = model, layer, proj

    def forward(self, audio):
        h = self.model(audio, output_hidden_states=True).hidden_states[self.layer]
        return self.proj(h) if self.proj is not None else h


def export_content(cm, folder: Path, onnx_path: Path, opset: int = 17) -> float:
    """transformers folder (torch path) + ONNX (default path); returns the ONNX parity error."""
    from safetensors.torch import save_file

    cm.model.save_pretrained(folder)
    if cm.final_proj is not None:
        save_file(
            {k: v.contiguous() for k, v in cm.final_proj.state_dict().items()},
            folder / "final_proj.safetensors",
        )
    model = cm.model
    model.config._attn_implementation = "eager"  # the exporter traces plain matmul attention
    graph = ContentGraph(model, cm.layer, cm.final_proj).eval()
    x = torch.randn(1, 16000) * 0.1
    with torch.no_grad():
        torch.onnx.export(
            graph,
            (x,),
            str(onnx_path),
            input_names=["audio"],
            output_names=["features"],
            dynamic_axes={"audio": {1: "samples"}, "features": {1: "frames"}},
            opset_version=opset,
            dynamo=False,
        )
        import onnxruntime as ort

        x2 = torch.randn(1, 24000) * 0.1
        ref = graph(x2).numpy()
    out = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(
        None, {"audio": x2.numpy()}
    )[0]
    return float(np.max(np.abs(out - ref)))


def run(cfg: DictConfig, content_model, out: Path, demo_wav: Path | None) -> dict:
    """Export everything into `out` (an empty folder); returns the report."""
    import faiss

    from pipelines.atomic import write_json
    from runtime.voice import convert

    c = cfg.voice_export
    src = Path(c.input)
    net, ckpt = load_trained(src)
    name = str(c.name)
    report: dict = {"name": name, "trained_steps": int(ckpt.get("iteration", 0))}

    rvc = rvc_inference_dict(net, f"{report['trained_steps']} steps, Still voice_train")
    torch.save(rvc, out / f"{name}.pth")
    report["pth_mb"] = round((out / f"{name}.pth").stat().st_size / 2**20, 2)

    index_src = src / "features.index"
    if not index_src.is_file():
        raise StageError(f"{index_src} not found: re-run voice_train")
    shutil.copyfile(index_src, out / f"{name}.index")
    index = faiss.read_index(str(index_src))
    np.save(out / f"{name}.index.npy", index.reconstruct_n(0, index.ntotal).astype(np.float16))
    report["index_vectors"] = int(index.ntotal)

    t0 = time.perf_counter()
    export_synth_onnx(net, out / f"{name}.onnx", int(c.opset))
    report["onnx_mb"] = round((out / f"{name}.onnx").stat().st_size / 2**20, 2)
    report["onnx_max_abs_diff"] = onnx_parity(net, out / f"{name}.onnx")
    report["onnx_export_s"] = round(time.perf_counter() - t0, 1)
    if report["onnx_max_abs_diff"] > float(c.onnx_parity_tolerance):
        raise StageError(
            f"ONNX parity check failed: max |onnx - torch| = {report['onnx_max_abs_diff']:.2e} "
            f"> voice_export.onnx_parity_tolerance={c.onnx_parity_tolerance}"
        )
    report["content_onnx_max_abs_diff"] = export_content(
        content_model, out / "content", out / "content.onnx", int(c.opset)
    )
    report["pitch_onnx"] = export_fcpe(out / "pitch.onnx", int(c.opset))
    if report["pitch_onnx"]["voicing_agreement"] < 0.99 or (report["pitch_onnx"]["max_cents"] or 0) > 5:
        raise StageError(f"pitch.onnx does not match torchfcpe: {report['pitch_onnx']}")
    p = cfg.voice_features.pitch
    spec = {
        "format": 1,
        "pth": f"{name}.pth",
        "index": f"{name}.index",
        "index_vectors": f"{name}.index.npy",
        "onnx": f"{name}.onnx",
        "content_onnx": "content.onnx",
        "content_dir": "content",
        "pitch_onnx": "pitch.onnx",
        "pitch_onnx_method": "fcpe",
        "content_layer": int(content_model.layer),
        "content_dim": int(content_model.dim),
        "content_meaningful": bool(content_model.meaningful),
        "sample_rate": net.cfg.sample_rate,
        "hop": net.cfg.hop,
        "inter_channels": net.cfg.inter_channels,
        "version": net.cfg.version,
        "synth": net.cfg.to_dict(),
        "f0_min": float(p.f0_min),
        "f0_max": float(p.f0_max),
    }
    write_json(out / "voice.json", spec)

    if c.convert.enabled and demo_wav is not None:
        k = c.convert
        settings = convert.Settings(
            transpose=float(k.transpose),
            index_rate=float(k.index_rate),
            protect=float(k.protect),
            pitch=str(k.pitch),
            pitch_model=str(p.rmvpe_path) if str(k.pitch) == "rmvpe" else None,
            block=float(k.block),
            crossfade=float(k.crossfade),
            extra=float(k.extra),
            f0_min=float(p.f0_min),
            f0_max=float(p.f0_max),
        )
        conv = convert.convert_file(demo_wav, out / "check" / "converted.wav", out, settings, str(k.backend))
        conv["input"] = demo_wav.name
        if not content_model.meaningful:
            conv["NOTE"] = (
                "pipeline check only: the content features come from a random tiny HuBERT and the model "
                "is a tiny demo, so the converted file is not meaningful speech"
            )
        report["demo_conversion"] = conv
    return report
