"""The bundle contract: the runtime loads nothing from a bundle whose files do not match its manifest,
and `python -m runtime doctor` says whether this machine can run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime import doctor
from runtime.bundle import CHAT_MODEL, MANIFEST, POLICY, BundleError, open_bundle, write_manifest
from tests.signing_key import TEST_KEY

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    (root / CHAT_MODEL).mkdir(parents=True)
    (root / CHAT_MODEL / "model.safetensors").write_bytes(b"\0" * 1000)
    info = {"instruction": "You are <TARGET>.", "prompt_format_version": 1, "placeholders": "per_window",
            "context_messages": 12}  # fmt: skip
    (root / CHAT_MODEL / "still_model.json").write_text(json.dumps(info))
    (root / POLICY).write_text(json.dumps({"debounce_s": 3.0, "context_messages": 12}))
    write_manifest(root, {
        "name": "demo", "created": "2026-11-25T00:00:00+00:00",
        "components": {"chat_model": {"path": CHAT_MODEL, "base_model": "tiny", "prompt_format_version": 1,
                                      "weights_bytes": 1000}, "policy": {"path": POLICY}},
        "consent": {"relationship": "self", "date": "2026-01-15", "permitted_use": "family"},
    }, TEST_KEY)  # fmt: skip
    return root


def test_an_intact_bundle_opens_with_its_components(bundle):
    b = open_bundle(bundle)
    assert b.chat_model == bundle / CHAT_MODEL
    assert (
        b.policy == {"debounce_s": 3.0, "context_messages": 12}
        and b.model_info["instruction"] == "You are <TARGET>."
    )
    assert set(b.manifest["files"]) == {"chat_model/model.safetensors", "chat_model/still_model.json", POLICY}


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (lambda r: (r / POLICY).write_text('{"debounce_s": 0}'), "policy.json: changed"),
        (lambda r: (r / CHAT_MODEL / "model.safetensors").unlink(), "model.safetensors: missing"),
        (
            lambda r: (r / CHAT_MODEL / "extra.py").write_text("print('hi')"),
            "extra.py: not part of the bundle",
        ),
        (lambda r: (r / MANIFEST).write_text("{"), "not valid JSON"),
    ],
)
def test_a_tampered_bundle_is_refused_naming_the_file(bundle, tamper, problem):
    tamper(bundle)
    with pytest.raises(BundleError, match=problem):
        open_bundle(bundle)
    code, lines = doctor.report(str(bundle))
    assert code == 1 and "REFUSED" in lines[0]


def test_doctor_reports_memory_needed_and_available(bundle, monkeypatch):
    code, lines = doctor.report(str(bundle))
    assert code == 0 and any("all checksums match" in line for line in lines)
    assert any(line.startswith("memory: chat model (transformers) needs") for line in lines)
    monkeypatch.setattr(doctor, "available_memory", lambda: 1)
    code, lines = doctor.report(str(bundle))
    assert code == 2 and lines[-1].startswith("NOT ENOUGH MEMORY")


def test_doctor_command_exits_non_zero_on_a_tampered_bundle(bundle, capsys):
    from runtime.__main__ import main

    assert main(["doctor", "--bundle", str(bundle)]) == 0
    (bundle / POLICY).write_text("{}")
    assert main(["doctor", "--bundle", str(bundle)]) == 1
    assert "policy.json: changed" in capsys.readouterr().out


def test_doctor_puts_call_modes_memory_next_to_chat_modes_and_says_if_both_fit(bundle, monkeypatch):
    from tests import face_scenes as fs

    fs.write_faceset(bundle / "face", size=128)
    (bundle / "voice").mkdir()
    (bundle / "voice" / "voice.onnx").write_bytes(b"\0" * (64 << 20))  # 64 MiB of "weights"
    (bundle / "voice" / "voice.pth").write_bytes(b"\0" * (32 << 20))  # for other tools: not loaded
    (bundle / "voice" / "voice.json").write_text(json.dumps({"onnx": "voice.onnx", "pth": "voice.pth"}))
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    manifest["components"] |= {
        "face": {"path": "face", "faces": 3, "crop": {"template": "arcface", "size": 128},
                 "default_swapper": "classic", "identities": []},
        "voice": {"path": "voice", "version": "v2", "sample_rate": 48000, "trained_steps": 1,
                  "content_meaningful": False},
    }  # fmt: skip
    del manifest["files"], manifest["schema_version"]
    write_manifest(bundle, manifest, TEST_KEY)
    need = doctor.call_memory(open_bundle(bundle))
    assert need == pytest.approx(doctor.CALL_RUNTIME + 1.5 * (64 << 20), rel=0.02)  # onnx + face files
    monkeypatch.setattr(doctor, "gpus", lambda: [("RTX 4090", 24 * doctor.GB), ("tiny GPU", need // 2)])
    _, lines = doctor.report(str(bundle))
    call = next(line for line in lines if line.startswith("call mode:"))
    assert f"~{need / doctor.GB:.1f} GB" in call and "chat mode ~0.3 GB" in call
    assert "call + chat on RTX 4090: fit together (24.0 GB free)" in lines
    assert any(line.startswith("call + chat on tiny GPU: do not fit") for line in lines)


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (
            lambda r: (r / CHAT_MODEL / MANIFEST).write_text("{}"),
            "chat_model/manifest.json: not part of the bundle",
        ),
        (lambda r: (r / "linked").symlink_to(r / POLICY), "linked: a symbolic link"),
        (
            lambda r: (r / "folder").symlink_to(r / CHAT_MODEL, target_is_directory=True),
            "folder: a symbolic link",
        ),
    ],
)
def test_files_the_manifest_does_not_list_and_links_are_refused(bundle, tamper, problem):
    tamper(bundle)
    with pytest.raises(BundleError, match=problem):
        open_bundle(bundle)


@pytest.mark.parametrize("path", ["/etc", "../outside", "chat_model/../../x", "C:\\\\Windows", ""])
def test_a_component_or_file_that_points_outside_the_bundle_is_refused(bundle, path):
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    manifest["components"]["policy"]["path"] = path
    (bundle / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match=r"component policy: path .* is not inside the bundle"):
        open_bundle(bundle)
    manifest["components"]["policy"]["path"] = POLICY
    manifest["files"][path or "."] = "0" * 64
    (bundle / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match="a path outside the bundle in the manifest"):
        open_bundle(bundle)


def test_a_bundle_is_never_written_with_links_in_it(bundle):
    (bundle / "linked").symlink_to(bundle / POLICY)
    with pytest.raises(BundleError, match="symbolic links cannot go into a bundle"):
        write_manifest(bundle, {"components": {}}, TEST_KEY)


def test_the_runtime_prints_any_text_under_code_page_936(bundle):
    """The whole command, as a subprocess with the console's encoding forced to cp936."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONIOENCODING": "cp936", "PYTHONUTF8": "0"}
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["name"] = "外婆 🌻"
    del manifest["files"], manifest["schema_version"]
    write_manifest(bundle, manifest, TEST_KEY)
    command = [sys.executable, "-m", "runtime", "doctor", "--bundle", str(bundle)]
    done = subprocess.run(command, env=env, capture_output=True, cwd=REPO, timeout=120)
    assert done.returncode in (0, 2), done.stderr.decode("utf-8", "replace")
    assert "bundle 外婆 🌻" in done.stdout.decode("utf-8")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"prompt_format_version": 2}, "trained on prompt format v2, this runtime writes v1"),
        ({"placeholders": "global"}, "placeholders 'global'"),
        ({"context_messages": 6}, "policy.json serves 12 messages of context, the model was trained on 6"),
    ],
)
def test_a_model_the_runtime_would_serve_differently_than_it_was_trained_is_refused(bundle, change, problem):
    info_file = bundle / CHAT_MODEL / "still_model.json"
    info_file.write_text(json.dumps({**json.loads(info_file.read_text()), **change}))
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    del manifest["files"], manifest["schema_version"]
    write_manifest(bundle, manifest, TEST_KEY)
    code, lines = doctor.report(str(bundle))
    assert code == 1 and problem in lines[0]


def test_package_serves_the_window_the_model_was_trained_on(make_cfg):
    from pipelines.package import policy_settings
    from pipelines.stage import StageError

    assert policy_settings(make_cfg(), {"context_messages": 6})["context_messages"] == 6
    with pytest.raises(StageError, match="the window is the model's own"):
        policy_settings(make_cfg("+package.policy.context_messages=12"), {"context_messages": 6})


def test_a_second_start_hashes_only_what_changed_and_still_refuses_a_changed_file(bundle, tmp_path):
    import os

    from runtime.bundle import VerifiedFiles

    cache = tmp_path / "cache"
    open_bundle(bundle, cache_dir=cache)
    remembered = VerifiedFiles(bundle, cache)
    assert len(remembered.entries) == 3  # every listed file, with size, mtime and hash
    again = VerifiedFiles(bundle, cache)
    from runtime.bundle import verify

    assert verify(bundle, again) == [] and again.hashed == 0  # nothing re-read
    weights = bundle / CHAT_MODEL / "model.safetensors"
    weights.write_bytes(b"\1" * 1000)  # same size, new content (and a new mtime)
    with pytest.raises(BundleError, match=r"model\.safetensors: changed"):
        open_bundle(bundle, cache_dir=cache)
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, remembered.entries["chat_model/model.safetensors"][1]))
    with pytest.raises(BundleError, match=r"model\.safetensors: changed"):  # the cache holds the new hash
        open_bundle(bundle, cache_dir=cache)
    with pytest.raises(BundleError, match=r"model\.safetensors: changed"):
        open_bundle(bundle, full=True)


# ---- who built it: the manifest's signature and the key this PC pinned ---------------------------
def resign(bundle, key, **changes):
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    del manifest["files"], manifest["schema_version"]
    write_manifest(bundle, {**manifest, **changes}, key)


def test_a_manifest_changed_after_signing_or_unsigned_is_refused(bundle):
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    manifest["consent"]["permitted_use"] = "anything"  # checksums still match: only the signature knows
    (bundle / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match="the signature does not match"):
        open_bundle(bundle)
    resign(bundle, TEST_KEY)
    (bundle / "manifest.sig").unlink()
    with pytest.raises(BundleError, match=r"manifest\.sig not found: the bundle is not signed"):
        open_bundle(bundle)


def test_the_first_key_seen_for_a_bundle_name_is_pinned_and_another_is_refused(bundle, tmp_path):
    cache = tmp_path / "pc"
    assert open_bundle(bundle, cache_dir=cache).trust == "pinned"
    assert open_bundle(bundle, cache_dir=cache).trust == "trusted"
    resign(bundle, tmp_path / "someone_elses_key.pem")  # same name, a key this PC never saw
    with pytest.raises(BundleError, match=r"bundle 'demo' is signed by key .* --trust-new-key"):
        open_bundle(bundle, cache_dir=cache)
    assert open_bundle(bundle, cache_dir=cache, accept_new_key=True).trust == "replaced"
    assert open_bundle(bundle, cache_dir=cache).trust == "trusted"
    assert oct((tmp_path / "someone_elses_key.pem").stat().st_mode & 0o777) == "0o600"


def test_doctor_estimates_each_chat_engine_and_uses_llama_cpps_for_a_bundle_with_a_gguf(bundle, monkeypatch):
    """The GGUF file, its KV cache (GLM-4-9B's shape: 40 layers x 2 x 2 KV heads x 128 x 8192 tokens,
    q8_0) and llama.cpp's runtime, next to transformers' estimate; `chat` picks llama.cpp."""
    import importlib.util

    config = {"num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 128}
    (bundle / CHAT_MODEL / "config.json").write_text(json.dumps(config))
    (bundle / "chat_gguf").mkdir()
    (bundle / "chat_gguf" / "persona-Q4_K_M.gguf").write_bytes(b"\0" * (32 << 20))
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    manifest["components"]["chat_gguf"] = {
        "path": "chat_gguf/persona-Q4_K_M.gguf", "level": "Q4_K_M", "n_ctx": 8192, "n_gpu_layers": -1,
        "kv_cache_type": "q8_0",
    }  # fmt: skip
    del manifest["files"], manifest["schema_version"]
    write_manifest(bundle, manifest, TEST_KEY)

    kv = 40 * 2 * 2 * 128 * 8192 * 34 / 32  # 170 MiB
    assert doctor.gguf_memory(open_bundle(bundle)) == (32 << 20) + int(kv) + doctor.LLAMA_RUNTIME
    code, lines = doctor.report(str(bundle))
    engines = next(line for line in lines if line.startswith("chat engines:"))
    assert "llama.cpp (Q4_K_M, 8192-token context, q8_0 KV cache) ~0.45 GB" in engines
    assert code == 0 and any(
        line.startswith("memory: chat model (llama.cpp) needs ~0.4 GB") for line in lines
    )
    find_spec = importlib.util.find_spec
    missing = {"llama_cpp"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in missing else find_spec(name)
    )
    assert any("(transformers) needs" in line for line in doctor.report(str(bundle))[1])
    missing.add("torch")  # a base install with neither engine
    code, lines = doctor.report(str(bundle))
    assert code == 2 and lines[-1] == (
        "NO CHAT ENGINE INSTALLED: pip install .[llama] (the bundle's GGUF) or "
        "pip install .[torch] (the merged model)"
    )


def test_without_torch_doctor_asks_the_nvidia_driver_for_the_gpus():
    class Done:
        def __init__(self, returncode, stdout):
            self.returncode, self.stdout = returncode, stdout

    listed = "NVIDIA GeForce RTX 4090, 22500\nNVIDIA RTX A2000, Laptop GPU, 3900\n"
    assert doctor.nvidia_smi_gpus(lambda *a, **k: Done(0, listed)) == [
        ("NVIDIA GeForce RTX 4090", 22500 << 20), ("NVIDIA RTX A2000, Laptop GPU", 3900 << 20)
    ]  # fmt: skip
    assert doctor.nvidia_smi_gpus(lambda *a, **k: Done(9, "NVIDIA-SMI has failed")) == []

    def no_driver(*args, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    assert doctor.nvidia_smi_gpus(no_driver) == []
