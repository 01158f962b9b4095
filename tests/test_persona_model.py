"""sft → merge → eval_text on a tiny random Llama (SmolLM2's architecture): what each stage writes,
that training resumes after a kill, and that the merged model computes what base + adapter computes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_llm import build_tiny_llm

from pipelines import base_model, eval_text, merge, sft
from pipelines.atomic import write_jsonl
from pipelines.sft.__main__ import launch_command
from pipelines.stage import StageError

REPO = Path(__file__).resolve().parents[1]
INSTRUCTION = "You are <TARGET>, chatting with family on WeChat. Reply as <TARGET> would."
FAST = [
    "sft.max_steps=6",
    "sft.batch_size=4",
    "sft.save_steps=2",
    "sft.eval_steps=3",
    "sft.logging_steps=1",
    "sft.progress=false",
    "merge.verify.examples=2",
    "eval_text.max_examples=4",
    "eval_text.batch_size=2",
    "+eval_text.generation.max_new_tokens=8",
]


def persona_examples(n: int, offset: int = 0) -> list[dict]:
    """Short windows and the persona's replies, in the shape sft_data writes."""
    asks = ["吃饭了吗？", "Grandma are you coming on Sunday?", "Mochi caught a butterfly!!", "早点休息哈"]
    replies = ["吃了 你呢 ~ 🌻", "ok see you ~ 🌻", "哈哈哈 好样的 ~ 🌻", "好的 晚安 ~ 🌻"]
    return [
        {
            "instruction": INSTRUCTION,
            "input": f"<U1>: hello {i + offset}\n<U2>: {asks[i % 4]}",
            "output": replies[i % 4],
        }
        for i in range(n)
    ]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_llm(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def cfg_for(make_cfg, data_dir: Path, tiny_model: Path):
    """Config for the tiny model over synthetic sft_data output; base_model stage already run."""
    sft_data = data_dir / "processed" / "sft_data"
    write_jsonl(sft_data / "train.jsonl", persona_examples(24))
    write_jsonl(sft_data / "val.jsonl", persona_examples(6, offset=100))
    (sft_data / "stats.json").write_text(json.dumps({"examples_train": 24, "examples_val": 6}))

    def make(*overrides: str):
        cfg = make_cfg("model=tiny_test", f"model.path={tiny_model}", *FAST, *overrides)
        out = Path(cfg.base_model.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / base_model.MANIFEST).write_text(json.dumps(base_model.run(cfg, out)))
        return cfg

    return make


def train(cfg, callbacks=()) -> dict:
    base = base_model.locate(cfg)
    return sft.run(cfg, base, base_model.fingerprint(base), Path(cfg.sft.output), callbacks)


# ---- base_model ----


def test_missing_model_folder_names_the_download(make_cfg, data_dir):
    cfg = make_cfg("model=qwen2_5_7b", f"model.path={data_dir}/nowhere")
    with pytest.raises(StageError, match=r"nowhere not found.*huggingface-cli download Qwen/Qwen2.5-7B"):
        base_model.run(cfg, data_dir / "out")


def test_changed_model_files_are_refused(cfg_for, tiny_model):
    cfg = cfg_for()
    assert base_model.locate(cfg) == tiny_model
    config = tiny_model / "config.json"
    original = config.read_text()
    try:
        config.write_text(original.replace('"hidden_size": 32', '"hidden_size": 32 '))
        with pytest.raises(StageError, match=r"changed since.*dvc repro -f base_model"):
            base_model.locate(cfg)
    finally:
        config.write_text(original)


# ---- sft ----


def test_sft_writes_adapter_recipe_and_curves(cfg_for):
    cfg = cfg_for()
    summary = train(cfg)
    adapter = Path(cfg.sft.output) / "adapter"
    assert (adapter / "adapter_model.safetensors").exists()
    assert summary["steps"] == 6 and summary["examples"]["train"] == 24
    recipe = (adapter / sft.CONFIG_FILE).read_text()
    assert "learning_rate" in recipe and "instruction" in recipe
    assert "subject" not in recipe and "wxid" not in recipe  # real identities never travel with weights
    loss_curve = (Path(cfg.sft.output) / "dvclive/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert loss_curve[0].split("\t") == ["step", "loss"] and len(loss_curve) == 7
    assert json.loads((Path(cfg.sft.output) / "dvclive/metrics.json").read_text())["eval"]["loss"] > 0
    assert not (Path(cfg.sft.output) / "checkpoints").exists()  # keep_checkpoints=false


def test_loss_is_on_the_reply_only(cfg_for):
    cfg = cfg_for()
    tokenizer = base_model_tokenizer(cfg)
    split = sft.encode_split(persona_examples(2), tokenizer, 256, {tokenizer.eos_token_id})
    row = split.rows[0]
    reply = [t for t, m in zip(row["input_ids"], row["completion_mask"], strict=True) if m]
    assert tokenizer.decode(reply).startswith("吃了 你呢 ~ 🌻<|im_end|>")
    prompt_len = len(row["input_ids"]) - len(reply)
    assert row["completion_mask"] == [0] * prompt_len + [1] * len(reply)  # the reply is the last part


def base_model_tokenizer(cfg):
    from pipelines import modeling

    return modeling.load_tokenizer(base_model.locate(cfg), cfg.model)


KILLER = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from transformers import TrainerCallback
from pipelines.stage import compose_config
from test_persona_model import train

class KillAtStep3(TrainerCallback):  # after checkpoint-2 was saved, like a power cut
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            os.kill(os.getpid(), signal.SIGKILL)

train(compose_config({overrides!r}), callbacks=[KillAtStep3()])
"""


def test_killed_training_resumes_from_the_last_checkpoint(cfg_for, data_dir, tiny_model):
    cfg_for()  # writes data and the base_model manifest
    overrides = [f"paths.data={data_dir}", "model=tiny_test", f"model.path={tiny_model}", *FAST]
    script = KILLER.format(tests=str(REPO / "tests"), overrides=overrides)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    checkpoints = data_dir / "models/sft/checkpoints"
    assert [p.name for p in sft.complete_checkpoints(checkpoints)] == ["checkpoint-2"]

    summary = train(cfg_for())
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 6
    curve = (data_dir / "models/sft/dvclive/plots/metrics/train/loss.tsv").read_text().splitlines()
    steps = [int(line.split("\t")[0]) for line in curve[1:]]
    assert steps == [1, 2, 3, 4, 5, 6]  # one curve: steps before the kill kept, none repeated


def test_checkpoints_of_another_config_are_not_resumed(cfg_for, data_dir):
    cfg = cfg_for()
    checkpoints = data_dir / "models/sft/checkpoints"
    assert sft.resume_point(checkpoints, "key-a") is None
    (checkpoints / "checkpoint-2").mkdir()
    (checkpoints / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (checkpoints / "checkpoint-4").mkdir()  # killed while saving: no trainer_state.json
    assert sft.resume_point(checkpoints, "key-a") == checkpoints / "checkpoint-2"
    assert not (checkpoints / "checkpoint-4").exists()
    assert sft.resume_point(checkpoints, "key-b") is None
    assert not (checkpoints / "checkpoint-2").exists()
    assert cfg.sft.save_steps == 2


def test_packing_without_flash_attention_is_refused(cfg_for):
    with pytest.raises(StageError, match="flash_attention_2"):
        sft.check_batching(cfg_for("sft.packing=true"))


def test_several_processes_relaunch_under_accelerate(cfg_for):
    command = launch_command(cfg_for("sft.launch.num_processes=4", "sft.launch.strategy=fsdp"), ["x=1"])
    assert command[1:3] == ["launch", "--config_file"] and command[3].endswith("conf/accelerate/fsdp.yaml")
    assert command[-3:] == ["-m", "pipelines.sft", "x=1"] and "4" in command
    assert launch_command(cfg_for(), []) is None
    with pytest.raises(StageError, match="choose one of"):
        launch_command(cfg_for("sft.launch.num_processes=2", "sft.launch.strategy=nope"), [])


# ---- merge ----


@pytest.fixture
def merged(cfg_for, tmp_path):
    cfg = cfg_for()
    train(cfg)
    out = tmp_path / "merged"
    out.mkdir()
    info = merge.merge(cfg, base_model.locate(cfg), out)
    return cfg, out, info


def test_merged_model_computes_base_plus_adapter(merged):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cfg, out, info = merged
    ids = torch.tensor([[5, 17, 42, 99, 3, 7]])
    base = AutoModelForCausalLM.from_pretrained(base_model.locate(cfg))
    with_adapter = PeftModel.from_pretrained(base, Path(cfg.sft.output) / "adapter")
    standalone = AutoModelForCausalLM.from_pretrained(out)
    with torch.inference_mode():
        diff = (with_adapter(ids).logits - standalone(ids).logits).abs().max().item()
    assert diff < 1e-4
    assert info["merge_check"]["max_abs_logit_diff_merged_vs_adapter"] < 1e-4


def test_merged_folder_describes_itself(merged):
    _, out, info = merged
    gen = json.loads((out / "generation_config.json").read_text())
    assert (gen["top_p"], gen["temperature"], gen["max_new_tokens"], gen["repetition_penalty"]) == (
        0.85, 1.15, 128, 1.1,
    )  # fmt: skip
    assert (out / "chat_template.jinja").exists()
    saved = json.loads((out / merge.MODEL_INFO).read_text())
    assert saved["instruction"] == INSTRUCTION  # what the model was trained with
    assert saved["prompt_format_version"] == info["prompt_format_version"]
    card = (out / "README.md").read_text()
    assert "tiny-random-llama" in card and "max |Δlogit|" in card and "It is not the person" in card


def test_merge_fails_when_logits_disagree(cfg_for, tmp_path):
    cfg = cfg_for("merge.verify.max_abs_diff.float32=-1")  # nothing can pass a negative tolerance
    train(cfg)
    with pytest.raises(StageError, match="differs from base \\+ adapter"):
        merge.merge(cfg, base_model.locate(cfg), tmp_path)


# ---- eval_text ----


def test_eval_compares_base_and_tuned_reproducibly(merged):
    cfg, out, _ = merged
    first = eval_text.run(cfg, base_model.locate(cfg), out)
    for name in ("base", "tuned"):
        m = first.metrics[name]
        assert {"val_loss", "perplexity", "style_score", "assistant_tone_rate", "leakage_rate"} <= set(m)
    assert first.metrics["examples"] == 4 and first.metrics["decoding"]["max_new_tokens"] == 8
    assert [s["real"] for s in first.samples] == [e["output"] for e in persona_examples(4, offset=100)]
    again = eval_text.run(cfg, base_model.locate(cfg), out)
    assert again.metrics == first.metrics and again.samples == first.samples  # fixed seeds
