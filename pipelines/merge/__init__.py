"""Stage `merge`: fold the LoRA adapter into the base model → one standalone Hugging Face folder.

The folder describes itself (style rule 8): safetensors weights, tokenizer and chat template,
`generation_config.json` with the reference decoding defaults, `still_model.json` (what the runtime
needs: prompt format version, persona instruction, context size) and a README model card with the
base model, data statistics, training recipe and the merge check. The check runs base + adapter and
the merged model on validation examples and fails the stage when their logits differ.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from pipelines import modeling
from pipelines.sft import CONFIG_FILE, SUMMARY_FILE, read_jsonl
from pipelines.stage import StageError
from runtime.bundle import MODEL_INFO  # read by package and the runtime
from runtime.prompt import PROMPT_FORMAT_VERSION, encode_example

log = logging.getLogger("still.merge")


def saved_dtype(cfg: DictConfig, base_path: Path) -> torch.dtype:
    if cfg.merge.dtype != "auto":
        return getattr(torch, cfg.merge.dtype)
    config = json.loads((base_path / "config.json").read_text(encoding="utf-8"))
    name = config.get("torch_dtype") or config.get("dtype") or "float32"
    return getattr(torch, name)


def sample_inputs(cfg: DictConfig, tokenizer, n: int) -> list[list[int]]:
    """Token ids of the first `n` validation examples (prompt and reply), as in training."""
    rows = read_jsonl(Path(cfg.sft_data.output) / "val.jsonl")[:n]
    encoded = [
        encode_example(tokenizer, r["instruction"], r["input"], r["output"], cfg.model.max_length)
        for r in rows
    ]
    return [e.input_ids for e in encoded if e is not None]


@torch.inference_mode()
def logits_of(model, samples: list[list[int]]) -> list[torch.Tensor]:
    return [model(torch.tensor([ids], device=model.device)).logits[0].float().cpu() for ids in samples]


def max_abs_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True)) if a else 0.0


def merge(cfg: DictConfig, base_path: Path, out: Path) -> dict:
    """Merge, verify and write the model folder into `out`; returns still_model.json's content."""
    from peft import PeftModel

    adapter = Path(cfg.merge.input)
    if not (adapter / "adapter_config.json").exists():
        raise StageError(f"{adapter}/adapter_config.json not found: run the sft stage first (dvc repro sft)")
    recipe = yaml.safe_load((adapter / CONFIG_FILE).read_text(encoding="utf-8"))
    summary = json.loads((adapter / SUMMARY_FILE).read_text(encoding="utf-8"))
    if recipe["model"]["name"] != cfg.model.name:
        raise StageError(
            f"{adapter} was trained on {recipe['model']['name']}, but model is {cfg.model.name}: "
            "run sft again (dvc repro)"
        )

    # Merging into a 4-bit base would round the adapter away: merge in full/half precision.
    model_cfg = OmegaConf.merge(cfg.model, {"load_in_4bit": False})
    dtype = saved_dtype(cfg, base_path)
    tokenizer = modeling.load_tokenizer(base_path, model_cfg)
    base = modeling.load_model(base_path, model_cfg).to(dtype)
    samples = sample_inputs(cfg, tokenizer, cfg.merge.verify.examples)
    base_logits = logits_of(base, samples)

    tuned = PeftModel.from_pretrained(base, adapter)
    adapter_logits = logits_of(tuned, samples)
    merged = tuned.merge_and_unload()
    merged_logits = logits_of(merged, samples)

    tolerance = cfg.merge.verify.max_abs_diff[str(dtype).removeprefix("torch.")]
    check = {
        "examples": len(samples),
        "dtype": str(dtype).removeprefix("torch."),
        "max_abs_logit_diff_merged_vs_adapter": round(max_abs_diff(adapter_logits, merged_logits), 6),
        "max_abs_logit_change_vs_base": round(max_abs_diff(base_logits, merged_logits), 4),
        "tolerance": tolerance,
    }
    if check["max_abs_logit_diff_merged_vs_adapter"] > tolerance:
        raise StageError(
            f"merged model differs from base + adapter: max |Δlogit| "
            f"{check['max_abs_logit_diff_merged_vs_adapter']} > {tolerance} on {len(samples)} validation "
            "examples; the merge is wrong (check that peft and transformers match the adapter's versions)"
        )
    log.info(
        "merge: merged = base + adapter (max |Δlogit| %s)", check["max_abs_logit_diff_merged_vs_adapter"]
    )

    gen = merged.generation_config
    for key, value in cfg.merge.generation.items():
        setattr(gen, key, value)
    if gen.pad_token_id is None:
        gen.pad_token_id = tokenizer.pad_token_id
    merged.save_pretrained(out, safe_serialization=True, max_shard_size=cfg.merge.max_shard_size)
    tokenizer.save_pretrained(out)

    info = {
        "prompt_format_version": PROMPT_FORMAT_VERSION,
        "instruction": summary["instruction"],  # what the model was trained with
        "context_messages": recipe["sft_data"]["window"],
        "placeholders": recipe["sft_data"]["placeholders"],
        "max_prompt_tokens": recipe["model"]["max_length"],
        "base_model": cfg.model.name,
        "decoding": OmegaConf.to_container(cfg.merge.generation),
        "merge_check": check,
        "training": summary,
    }
    stats_file = Path(cfg.sft_data.output) / "stats.json"
    stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.exists() else {}
    (out / MODEL_INFO).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(model_card(info, recipe, stats), encoding="utf-8")
    return info


def model_card(info: dict, recipe: dict, stats: dict) -> str:
    """A short human-readable card: what this model is, what it was made from, how it was checked."""
    t, check, lora = info["training"], info["merge_check"], recipe["model"]["lora"]
    sft = recipe["sft"]
    lines = [
        f"# Still persona model (base: {info['base_model']})",
        "",
        "A chat model fine-tuned to write in one person's style, for private family use with that",
        "person's (or their representative's) recorded consent. It is not the person. Replies should be",
        "shown with an AI disclosure (the Still runtime does this by default).",
        "",
        "## Made from",
        f"- Base model: {info['base_model']} ({recipe['model']['source']})",
        f"- Training examples: {t['examples']['train']} (validation {t['examples']['val']}); "
        f"sft_data stats: {stats.get('examples_train', '?')} train / {stats.get('examples_val', '?')} val "
        f"windows from {stats.get('messages', '?')} anonymized messages",
        f"- Prompt format version {info['prompt_format_version']}, {info['context_messages']} messages of "
        f"context, placeholders {info['placeholders']}",
        "",
        "## Training",
        f"- LoRA r={lora['r']} alpha={lora['alpha']} dropout={lora['dropout']} "
        f"on {', '.join(lora['target_modules'])}",
        f"- {t['steps']} steps, batch {sft['batch_size']}×{sft['gradient_accumulation']}, "
        f"lr {sft['learning_rate']} ({sft['lr_scheduler']}), max length {recipe['model']['max_length']}, "
        f"seed {sft['seed']}, on {t['device']}",
        f"- Final train loss {t['train_loss']}, validation loss {t['val_loss']}",
        "",
        "## Merge check",
        f"- Merged vs base + adapter on {check['examples']} validation examples ({check['dtype']}): "
        f"max |Δlogit| {check['max_abs_logit_diff_merged_vs_adapter']} (tolerance {check['tolerance']})",
        f"- Change vs the base model: max |Δlogit| {check['max_abs_logit_change_vs_base']}",
        "",
        "## Decoding defaults (generation_config.json)",
        *[f"- {k}: {v}" for k, v in info["decoding"].items()],
        "",
    ]
    return "\n".join(lines)
