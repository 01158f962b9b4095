"""voice_export end to end after voice_train (tiny config, synthetic data): the RVC-format .pth (fields,
config order, fp16, no enc_q), the .index, ONNX parity with PyTorch, the runtime manifest and the demo
conversion; plus the full-size 48k export (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from test_voice_model import write_dataset

from runtime.voice.synth import RVC_CONFIG_FIELDS, SynthConfig, Synthesizer
from tests.signing_key import TEST_KEY


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from pipelines.voice_export.__main__ import main as voice_export
    from pipelines.voice_train.__main__ import main as voice_train

    data = tmp_path_factory.mktemp("data")
    rows = write_dataset(data / "processed" / "voice_features", n_pieces=3, seconds=0.8)
    args = [f"paths.data={data}"]
    voice_train([*args, "voice_train.progress=false", "voice_train.epochs=1", "voice_train.batch_size=2"])
    voice_export(args)
    return data / "models" / "voice_export", data, rows


def test_rvc_inference_pth(exported):
    out, data, _ = exported
    ckpt = torch.load(out / "voice.pth", weights_only=True)
    assert set(ckpt) == {"weight", "config", "sr", "f0", "version", "info"}
    assert ckpt["sr"] == "48k" and ckpt["f0"] == 1 and ckpt["version"] == "v2" and "steps" in ckpt["info"]
    w = ckpt["weight"]
    assert all(v.dtype == torch.float16 for v in w.values())
    assert not any(k.startswith("enc_q.") for k in w)
    trained = torch.load(data / "models" / "voice_train" / "model" / "G.pth", weights_only=True)["model"]
    assert set(w) == {k for k in trained if not k.startswith("enc_q.")}
    torch.testing.assert_close(
        w["dec.conv_post.weight"].float(), trained["dec.conv_post.weight"], atol=1e-3, rtol=1e-3
    )
    cfg = ckpt["config"]
    assert len(cfg) == len(RVC_CONFIG_FIELDS) == 18
    assert cfg[0] == 513 and cfg[2] == 32 and cfg[9] == "1" and cfg[12] == [10, 6, 8] and cfg[17] == 48000
    assert cfg[10] == [3, 7] and cfg[11] == [[1, 3, 5], [1, 3, 5]] and cfg[15] == 1 and cfg[16] == 16


def test_index_and_runtime_manifest(exported):
    import faiss

    from pipelines.voice_train import n_ivf

    out, _, rows = exported
    index = faiss.read_index(str(out / "voice.index"))
    n = sum(len(range(0, r["frames"], 2)) for r in rows)
    assert index.ntotal == n and faiss.extract_index_ivf(index).nlist == n_ivf(n)
    assert np.load(out / "voice.index.npy").shape == (n, 768)
    spec = json.loads((out / "voice.json").read_text())
    assert spec["sample_rate"] == 48000 and spec["hop"] == 480 and spec["content_meaningful"] is False
    for key in ("pth", "index", "onnx", "content_onnx", "content_dir", "pitch_onnx"):
        assert (out / spec[key]).exists(), key


def test_onnx_matches_pytorch(exported):
    import onnxruntime as ort

    from pipelines.voice_export import SYNTH_INPUTS, InferenceGraph, example_inputs, load_trained

    out, data, _ = exported
    report = json.loads((out / "report.json").read_text())
    assert report["onnx_max_abs_diff"] < 1e-4 and report["content_onnx_max_abs_diff"] < 1e-3
    assert report["pitch_onnx"]["voicing_agreement"] > 0.99 and report["pitch_onnx"]["max_cents"] < 1
    net, _ = load_trained(data / "models" / "voice_train" / "model")
    sess = ort.InferenceSession(str(out / "voice.onnx"), providers=["CPUExecutionProvider"])
    for frames, skip in ((37, 0), (120, 90)):  # other lengths than the export example
        inputs = example_inputs(net.cfg, frames, skip, seed=frames)
        with torch.no_grad():
            ref = InferenceGraph(net)(*inputs).numpy()
        got = sess.run(None, {n: t.numpy() for n, t in zip(SYNTH_INPUTS, inputs, strict=True)})[0]
        assert got.shape == ref.shape == (1, 1, (frames - skip) * 480)
        assert np.max(np.abs(got - ref)) < 1e-4 and np.abs(ref).max() > 1e-4


def test_demo_conversion_is_a_pipeline_check(exported):
    out, _, rows = exported
    report = json.loads((out / "report.json").read_text())["demo_conversion"]
    y, sr = sf.read(out / "check" / "converted.wav")
    x, sr_in = sf.read(rows[0]["wav16k"])
    assert sr == sr_in == 16000 and len(y) == len(x) == report["output_samples"]
    assert "pipeline check only" in report["NOTE"] and report["backend"] == "onnx"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["onnx_max_abs_diff"] < 1e-4 and metrics["demo_algorithmic_latency_ms"] == 310.0


def test_full_size_48k_export(tmp_path):
    """48k v2 (random weights): fp16 inference weights ~57 MB per voice-notes, ONNX ~116 MB, parity."""
    from pipelines.voice_export import export_synth_onnx, onnx_parity, rvc_inference_dict

    net = Synthesizer(SynthConfig()).eval()
    torch.save(rvc_inference_dict(net, "test"), tmp_path / "v.pth")
    assert 50 < (tmp_path / "v.pth").stat().st_size / 2**20 < 64
    export_synth_onnx(net, tmp_path / "v.onnx")
    assert 100 < (tmp_path / "v.onnx").stat().st_size / 2**20 < 130
    assert onnx_parity(net, tmp_path / "v.onnx", frames=60, skip=10) < 1e-3


def bundle_with_voice(exported, tmp_path, *overrides):
    """A bundle holding only the voice component, packaged the way the package stage does it."""
    from pipelines.package import add_voice
    from pipelines.stage import compose_config
    from runtime.bundle import write_manifest

    _, data, _ = exported
    root = tmp_path / "bundle"
    root.mkdir(parents=True)
    component = add_voice(compose_config([f"paths.data={data}", *overrides]), root)
    write_manifest(root, {"name": "t", "components": {"voice": component}}, TEST_KEY)
    return root, component


def test_the_bundle_ships_the_onnx_voice_and_the_rvc_pair(exported, tmp_path):
    root, component = bundle_with_voice(exported, tmp_path)
    shipped = {p.name for p in (root / "voice").iterdir()}
    onnx_set = {"voice.json", "voice.onnx", "content.onnx", "pitch.onnx", "voice.index.npy"}
    assert shipped == onnx_set | {"voice.pth", "voice.index"}
    spec = json.loads((root / "voice" / "voice.json").read_text())
    assert spec["content_dir"] is None  # the torch-only HuBERT folder stays on the build machine
    assert component["rvc_files"] and component["content_meaningful"] is False
    root2, _ = bundle_with_voice(exported, tmp_path / "no_rvc", "package.voice_rvc_files=false")
    assert {p.name for p in (root2 / "voice").iterdir()} == onnx_set


def test_voice_convert_reads_the_verified_bundle(exported, tmp_path, capsys):
    from runtime.__main__ import main as runtime

    root, _ = bundle_with_voice(exported, tmp_path)
    _, _, rows = exported
    src, dst = rows[0]["wav16k"], tmp_path / "out.wav"
    assert runtime(["voice-convert", src, str(dst), "--bundle", str(root)]) == 0
    assert len(sf.read(dst)[0]) == len(sf.read(src)[0])
    assert runtime(["voice-convert", src, str(dst), "--bundle", str(root), "--backend", "torch"]) == 2
    assert "use --backend onnx" in capsys.readouterr().err
    (root / "voice" / "voice.onnx").write_bytes(b"tampered")
    assert runtime(["voice-convert", src, str(dst), "--bundle", str(root)]) == 2
    assert "voice/voice.onnx: changed" in capsys.readouterr().err


def test_packaging_without_an_exported_voice_says_what_to_run(tmp_path):
    from pipelines.package import add_voice
    from pipelines.stage import StageError, compose_config

    root = f"paths.data={tmp_path}"  # nothing exported under this data root
    (tmp_path / "bundle").mkdir()
    what_to_do = r"voice\.json not found.*dvc repro voice_export.*include_voice=false"
    with pytest.raises(StageError, match=what_to_do):
        add_voice(compose_config([root]), tmp_path / "bundle")
    assert add_voice(compose_config([root, "package.include_voice=false"]), tmp_path / "bundle") is None
