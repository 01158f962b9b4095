"""chat_export: the merged model as GGUF files for llama.cpp, checked against transformers (a tiny
random Llama with SmolLM2's real tokenizer, which llama.cpp's converter recognises)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_llm import build_smollm2_tokenizer

from pipelines import chat_export
from pipelines.atomic import write_jsonl
from pipelines.stage import StageError
from runtime.bundle import MODEL_INFO

INSTRUCTION = "You are <TARGET>, chatting with family on WeChat. Reply as <TARGET> would."


@pytest.fixture(scope="session")
def smol_tokenizer(tmp_path_factory) -> Path:
    return build_smollm2_tokenizer(tmp_path_factory.mktemp("smol-tokenizer"))


@pytest.fixture(scope="session")
def merged_dir(tmp_path_factory, smol_tokenizer) -> Path:
    """What merge writes, as far as chat_export reads it: weights, tokenizer, decoding, model info."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("merged")
    tokenizer = AutoTokenizer.from_pretrained(smol_tokenizer)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        do_sample=True, top_p=0.85, temperature=1.15, max_new_tokens=128, repetition_penalty=1.1,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / MODEL_INFO).write_text(json.dumps({"instruction": INSTRUCTION}), encoding="utf-8")
    return out


@pytest.fixture
def cfg(make_cfg, data_dir, merged_dir):
    window = "<U1>: 外婆 吃饭了吗 {}\n<U2>: Grandma are you coming?"
    rows = [{"instruction": INSTRUCTION, "input": window.format(i), "output": "吃了 ~ 🌻"} for i in range(6)]
    write_jsonl(data_dir / "processed" / "sft_data" / "val.jsonl", rows)
    return make_cfg(
        "model=tiny_test", f"model.path={merged_dir}", f"chat_export.input={merged_dir}",
        "chat_export.levels=[Q8_0,Q4_K_M]", "chat_export.check.prompts=2", "chat_export.check.new_tokens=6",
        "chat_export.check.loss_examples=3",
    )  # fmt: skip


def test_the_export_writes_checked_files_for_llama_cpp_ollama_and_lm_studio(cfg, merged_dir):
    tmp_path = Path(cfg.chat_export.output)  # not there yet, as atomic_path hands it out
    report = chat_export.run(cfg, tmp_path)
    files = report["files"]
    assert set(files) == {"persona-f16.gguf", "persona-Q8_0.gguf", "persona-Q4_K_M.gguf"}
    assert all((tmp_path / name).is_file() for name in files)
    assert (
        files["persona-Q4_K_M.gguf"]["bytes"]
        < files["persona-Q8_0.gguf"]["bytes"]
        < files["persona-f16.gguf"]["bytes"]
    )
    # the 16-bit file computes what the merged model computes: same greedy tokens, same loss
    assert all(g["same_tokens"] == 6 or g["tie_gap"] < 0.05 for g in files["persona-f16.gguf"]["greedy"])
    assert abs(files["persona-f16.gguf"]["perplexity_change"]) < 0.01
    assert report["merged"]["val_loss"] > 0 and report["architecture"] == "llama"

    meta = chat_export.metadata(tmp_path / "persona-Q4_K_M.gguf")
    assert (
        meta["ggml.eos_token_id"] == 2 and "<|im_start|>" in meta["chat_template"]
    )  # embedded in every file
    modelfile = (tmp_path / "Modelfile").read_text(encoding="utf-8")
    for line in ("FROM ./persona-Q4_K_M.gguf", 'PARAMETER stop "<|im_end|>"', "PARAMETER temperature 1.15",
                 "PARAMETER top_p 0.85", "PARAMETER repeat_penalty 1.1", "PARAMETER num_predict 128",
                 f'SYSTEM """{INSTRUCTION}"""', "TEMPLATE"):  # fmt: skip
        assert line in modelfile
    assert "persona-Q8_0.gguf" in (tmp_path / "LMSTUDIO.md").read_text(encoding="utf-8")

    # eval_text measures every file on the tuned model's prompts and decoding, next to its perplexity
    from pipelines.atomic import write_json
    from pipelines.eval_text import Prompt, evaluate_gguf
    from pipelines.eval_text.report import quantized_section

    write_json(tmp_path / "report.json", report)  # as the stage's main writes it

    prompts = [
        Prompt(INSTRUCTION, "<U1>: 外婆 吃饭了吗"),
        Prompt(INSTRUCTION, "<U1>: Grandma are you coming?"),
    ]
    decoding = {"do_sample": True, "top_p": 0.85, "temperature": 1.15, "max_new_tokens": 8}
    quantized = evaluate_gguf(cfg, merged_dir, prompts, decoding, ["吃了 ~ 🌻", "ok ~ 🌻"], [])
    assert set(quantized) == {"f16", "Q8_0", "Q4_K_M"}
    assert quantized["Q4_K_M"]["perplexity"] == files["persona-Q4_K_M.gguf"]["perplexity"]
    assert {"style_score", "assistant_tone_rate", "leakage_rate"} <= set(quantized["Q4_K_M"])
    tuned = {k: 0.5 for k in ("perplexity", "style_score", "assistant_tone_rate", "leakage_rate")}
    assert "| Q4_K_M |" in "\n".join(quantized_section(tuned, quantized))


def test_a_file_that_computes_something_else_is_caught_and_a_tie_is_not():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 50)).astype(np.float32)

    def model(ids):
        return table[np.array(ids) % 50]

    assert chat_export.greedy_split(model, model, [1, 2, 3], 8) == chat_export.Split(8, None)
    other = chat_export.greedy_split(model, lambda ids: -model(ids), [1, 2, 3], 8)
    assert other.same == 0 and other.gap > 0.05

    tied = table.copy()
    tied[3, :2] = 9.0  # after token 3 the two best logits are equal: either choice is right
    bumped = tied.copy()
    bumped[3, 1] += 1e-4  # a 16-bit file may round the tie the other way
    split = chat_export.greedy_split(
        lambda ids: tied[np.array(ids) % 50], lambda ids: bumped[np.array(ids) % 50], [3], 4
    )
    assert split == chat_export.Split(0, 0.0)


def test_a_wrong_template_or_end_token_is_refused(merged_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    meta = {"chat_template": tokenizer.chat_template, "ggml.eos_token_id": tokenizer.eos_token_id}
    assert chat_export.template_problems(meta, tokenizer) == []
    assert chat_export.template_problems({**meta, "chat_template": "{{ messages }}"}, tokenizer)
    assert chat_export.template_problems({**meta, "ggml.eos_token_id": 0}, tokenizer)


def test_bad_settings_say_what_to_do(make_cfg, cfg, tmp_path):
    with pytest.raises(StageError, match=r"not a llama\.cpp quantization type"):
        chat_export.quantize(tmp_path / "a.gguf", tmp_path / "b.gguf", "Q9_X", 1)
    with pytest.raises(StageError, match=r"convert_hf_to_gguf\.py.*bash \.ci/setup"):
        chat_export.converter_path(make_cfg("chat_export.converter=/nowhere/convert_hf_to_gguf.py"))
    with pytest.raises(StageError, match=r"chat_export\.serve"):
        chat_export.run(
            make_cfg(f"chat_export.input={cfg.chat_export.input}", "chat_export.serve=Q3_K_M"), tmp_path
        )


def gguf_bundle(cfg, merged_dir: Path, root: Path, extra: dict | None = None) -> Path:
    """A signed bundle with the merged model and chat_export's Q4_K_M file (plus `extra` components,
    already written under `root`)."""
    import shutil

    from runtime.bundle import CHAT_MODEL, POLICY, write_manifest
    from tests.signing_key import TEST_KEY

    export = root.parent / "export"
    export.mkdir()
    chat_export.run(cfg, export)
    shutil.copytree(merged_dir, root / CHAT_MODEL)
    info = {"instruction": INSTRUCTION, "max_prompt_tokens": 512, "prompt_format_version": 1,
            "placeholders": "per_window", "context_messages": 12}  # fmt: skip
    (root / CHAT_MODEL / MODEL_INFO).write_text(json.dumps(info), encoding="utf-8")
    (root / POLICY).write_text(json.dumps({"context_messages": 12}), encoding="utf-8")
    (root / "chat_gguf").mkdir()
    shutil.copyfile(export / "persona-Q4_K_M.gguf", root / "chat_gguf" / "persona-Q4_K_M.gguf")
    components = {"chat_model": {"path": CHAT_MODEL}, "policy": {"path": POLICY},
                  "chat_gguf": {"path": "chat_gguf/persona-Q4_K_M.gguf", "n_ctx": 512, "n_gpu_layers": 0,
                                "kv_cache_type": "f16"}, **(extra or {})}  # fmt: skip
    write_manifest(root, {"name": "t", "created": "now", "consent": {}, "components": components}, TEST_KEY)
    return root


def test_the_runtime_serves_the_bundles_gguf_through_llama_cpp_with_the_same_prompt(
    cfg, tmp_path, merged_dir
):
    """A bundle with chat_export's file: `auto` picks llama.cpp; both engines get the very same prompt
    ids from the one prompt path; a seed gives the same reply again."""
    from runtime.bundle import open_bundle
    from runtime.generator import Generator

    bundle = open_bundle(gguf_bundle(cfg, merged_dir, tmp_path / "bundle"))

    class Line:
        def __init__(self, sender, text, from_persona=False):
            self.sender, self.text, self.from_persona = sender, text, from_persona

    context = [Line("小雨", "外婆 吃饭了吗"), Line("Tom", "Grandma are you coming?")]
    fast, slow = Generator(bundle), Generator(bundle, engine="transformers", device="cpu")
    assert fast.engine.name == "llama.cpp" and slow.engine.name == "transformers"
    seen = {}
    for generator in (fast, slow):
        reply = generator.engine.reply
        generator.engine.reply = lambda ids, seed, reply=reply, name=generator.engine.name: (
            seen.setdefault(name, list(ids)), reply(ids, seed))[1]  # fmt: skip
    first = fast.reply(context, seed=3)
    slow.reply(context, seed=3)
    assert seen["llama.cpp"] == seen["transformers"]  # byte-identical prompt, whatever the engine
    assert fast.reply(context, seed=3).raw == first.raw and first.prompt_tokens == len(seen["llama.cpp"])
    with pytest.raises(ValueError, match="engine"):
        Generator(bundle, engine="vllm")
    from runtime.engines import LlamaCppEngine

    with pytest.raises(ValueError, match="multiple of 32"):  # the tiny model's heads hold 16 values
        LlamaCppEngine(bundle.chat_gguf, fast.tokenizer, {}, n_ctx=256, kv_cache_type="q8_0")


def test_base_model_rebuilds_the_demo_tokenizer_as_the_byte_level_bpe_smollm2_was_trained_with(
    smol_tokenizer,
):
    """transformers reads the demo GGUF's tokenizer as SentencePiece-like; base_model puts it back, which
    llama.cpp's converter needs (it recognises SmolLM2's pre-tokenizer by the ids it gives)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smol_tokenizer)
    assert not (smol_tokenizer / "tokenizer.model").exists()  # no bogus SentencePiece model
    assert tokenizer("hi")["input_ids"] == [6004]  # no bos: the GGUF adds none
    text = "外婆 吃饭了吗\n2026年12月 I ate 33 dumplings 🌻"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert [tokenizer.decode([i]) for i in tokenizer("2026")["input_ids"]] == ["2", "0", "2", "6"]
    assert tokenizer.eos_token == "<|im_end|>"


# `python -m runtime chat ARGS` that reports the engine that replied and whether torch was imported.
# With --no-torch first, torch cannot be imported (find_spec finds nothing, as in a runtime installed
# without the torch extra).
CHAT_PROBE = """
import importlib.machinery, json, sys
class NoTorch(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if name.split(".")[0] == "torch" else super().find_spec(name, path, target)
if sys.argv[1] == "--no-torch":
    sys.meta_path = [NoTorch if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    del sys.argv[1]
import runtime.generator
engines, open_engine = [], runtime.generator.open_engine
def opened(*args, **kwargs):
    engine = open_engine(*args, **kwargs)
    engines.append(engine.name)
    return engine
runtime.generator.open_engine = opened
from runtime.__main__ import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "engines": engines, "torch": "torch" in sys.modules}))
"""


@pytest.fixture
def memory_bundle(cfg, tmp_path, merged_dir) -> Path:
    """The GGUF bundle with a dense memory index (a tiny random BERT encoder)."""
    from tiny_llm import build_tiny_encoder

    from runtime.bundle import MEMORY
    from runtime.encoder import Embedder
    from runtime.memory import EMBEDDER, Snippet, write_index

    root = tmp_path / "bundle"
    said = ["<TARGET>: my cat Mochi is 6 years old", "<TARGET>: 我最拿手的是酒酿圆子"]
    snippets = [
        Snippet(f"s{i}", "C1", f"C1:{i}", "2026-03-08", 0.0, ["<TARGET>"], t) for i, t in enumerate(said)
    ]
    encoder = build_tiny_encoder(root / MEMORY / EMBEDDER)
    retrieval = {"k": 1, "max_tokens": 60, "mode": "dense"}
    write_index(
        root / MEMORY, snippets, Embedder(encoder, backend="torch").encode(said), {"retrieval": retrieval}
    )
    return gguf_bundle(cfg, merged_dir, root, {"memory": {"path": MEMORY, "retrieval": retrieval}})


def chat_replay(
    python: Path, bundle: Path, folder: Path, *chat_args: str, torch: bool = True
) -> tuple[dict, list[dict], str]:
    """One message replayed through `python`'s runtime: (probe result, reply decisions, stderr)."""
    import subprocess

    log, out, decisions = folder / "chat.jsonl", folder / "sent.jsonl", folder / "decisions.jsonl"
    message = {
        "ts": 1_767_225_600,
        "chat": "family",
        "sender": "小雨",
        "text": "外婆 your cat Mochi is so cute",
    }
    log.write_text(json.dumps(message, ensure_ascii=False) + "\n", encoding="utf-8")
    decisions.unlink(missing_ok=True)
    args = ["chat", "--bundle", str(bundle), "--transport", "replay", "--log", str(log), "--out", str(out),
            "--allow-chat", "family", "--decisions", str(decisions)]  # fmt: skip
    probe = [str(python), "-c", CHAT_PROBE, *([] if torch else ["--no-torch"]), *args, *chat_args]
    run = subprocess.run(probe, capture_output=True, text=True, encoding="utf-8", timeout=300, cwd=folder)
    assert run.returncode == 0, run.stderr
    logged = decisions.read_text(encoding="utf-8").splitlines() if decisions.is_file() else []
    replies = [d for d in map(json.loads, logged) if d["action"] in ("sent", "dropped")]
    return json.loads(run.stdout.strip().splitlines()[-1]), replies, run.stderr


def test_a_runtime_without_torch_chats_through_the_gguf_with_dense_memory(memory_bundle, tmp_path):
    """The base install plus llama-cpp-python is enough: the quantized model replies, the memory's
    encoder embeds the query in numpy, and torch is never imported."""
    import sys

    result, replies, _ = chat_replay(Path(sys.executable), memory_bundle, tmp_path, torch=False)
    assert result == {"code": 0, "engines": ["llama.cpp"], "torch": False}
    assert replies and replies[0]["memory"] in (["s0"], ["s1"])  # the dense retriever found one

    # without torch the transformers engine says what to install
    result, _, stderr = chat_replay(
        Path(sys.executable), memory_bundle, tmp_path, "--engine", "transformers", torch=False
    )
    assert result["code"] == 1
    assert "the transformers engine needs torch: pip install 'still[torch]'" in stderr


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "engine"), [("llama", "llama.cpp"), ("torch", "transformers")])
def test_each_engine_chats_from_a_fresh_install_of_its_extra(memory_bundle, tmp_path, extra, engine):
    """`pip install .[llama]` or `.[torch]` in a new environment, then a replayed chat with memory."""
    from tests.fresh_install import fresh_runtime

    python, installed = fresh_runtime(tmp_path / "venv", extra)
    assert ("torch" in installed) == (extra == "torch")
    result, replies, _ = chat_replay(python, memory_bundle, tmp_path)
    assert result == {"code": 0, "engines": [engine], "torch": extra == "torch"}
    assert replies and replies[0]["memory"] in (["s0"], ["s1"])
