"""Stage `eval_text`: is the tuned model closer to the persona than the base model?

Both models see the same held-out validation windows (the latest sessions of each chat, never
trained on) through the same prompt code as training and serving, and decode with the same settings
and seeds. Measured per model (`metrics.json`, stable names):
- `val_loss` / `perplexity` of the persona's real replies (teacher-forced, reply tokens only);
- style fidelity of the generated replies against the real ones (`style_*`, see metrics.py);
- `assistant_tone_rate`, `leakage_rate` (placeholders or PII-shaped text), `distinct_1/2`,
  `degenerate_rate`, `mean_chars`.
`report.md` puts them in one table with side-by-side samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from pipelines import modeling
from pipelines.eval_text.metrics import text_metrics
from pipelines.sft import read_jsonl
from runtime.generate import generate_replies
from runtime.prompt import TARGET, encode_example, encode_prompt, stop_token_ids

MODELS = ("base", "tuned")


@dataclass
class ModelEval:
    val_loss: float
    replies: list[str]


@torch.inference_mode()
def reply_loss(model, tokenizer, examples: list[dict], max_length: int, stop_ids: set[int]) -> float:
    """Mean cross-entropy per reply token of the real replies given their windows."""
    total, tokens = 0.0, 0
    for ex in examples:
        enc = encode_example(
            tokenizer, ex["instruction"], ex["input"], ex["output"], max_length, stop_ids=stop_ids
        )
        if enc is None:
            continue
        ids = torch.tensor([enc.input_ids], device=model.device)
        labels = torch.tensor(
            [[t if m else -100 for t, m in zip(enc.input_ids, enc.completion_mask, strict=True)]]
        )
        logits = model(ids).logits[0, :-1].float().cpu()
        target = labels[0, 1:]
        total += torch.nn.functional.cross_entropy(logits, target, ignore_index=-100, reduction="sum").item()
        tokens += int((target != -100).sum())
    return total / tokens if tokens else math.nan


def evaluate(cfg: DictConfig, model_path: Path, examples: list[dict], decoding: dict) -> ModelEval:
    model_cfg = OmegaConf.merge(cfg.model, {"load_in_4bit": False})
    tokenizer = modeling.load_tokenizer(model_path, model_cfg)
    model = modeling.load_model(model_path, model_cfg).eval()
    stop_ids = stop_token_ids(tokenizer, modeling.generation_eos(model_path))
    loss = reply_loss(model, tokenizer, examples, cfg.model.max_length, stop_ids)
    budget = cfg.model.max_length - decoding.get("max_new_tokens", 128)
    prompts = [
        encode_prompt(tokenizer, ex["instruction"], ex["input"], max_tokens=budget)[0] for ex in examples
    ]
    replies = generate_replies(
        model, tokenizer, prompts, seed=cfg.eval_text.seed, batch_size=cfg.eval_text.batch_size, **decoding
    )
    del model
    return ModelEval(loss, replies)


def decoding_settings(cfg: DictConfig, tuned_path: Path) -> dict:
    """The tuned model's generation_config (reference defaults) plus eval_text.generation overrides."""
    from transformers import GenerationConfig

    gen = GenerationConfig.from_pretrained(tuned_path)
    keys = ("do_sample", "top_p", "temperature", "max_new_tokens", "repetition_penalty", "top_k")
    settings = {k: getattr(gen, k) for k in keys if getattr(gen, k, None) is not None}
    settings.update(OmegaConf.to_container(cfg.eval_text.generation, resolve=True))
    return settings


@dataclass
class EvalResult:
    metrics: dict  # {"base": {...}, "tuned": {...}, "examples": n, "decoding": {...}}
    samples: list[dict]  # window, real reply, base reply, tuned reply


def others_lines(examples: list[dict]) -> list[str]:
    """What the other people in the chats write (window lines not by the persona), each line once."""
    lines = {line for ex in examples for line in ex["input"].split("\n") if not line.startswith(TARGET)}
    return sorted(line.split(": ", 1)[-1] for line in lines)


def run(cfg: DictConfig, base_path: Path, tuned_path: Path) -> EvalResult:
    examples = read_jsonl(Path(cfg.eval_text.input) / "val.jsonl")[: cfg.eval_text.max_examples]
    reference = [ex["output"] for ex in examples]
    background = others_lines(read_jsonl(Path(cfg.eval_text.input) / "train.jsonl"))
    decoding = decoding_settings(cfg, tuned_path)
    evals = {
        "base": evaluate(cfg, base_path, examples, decoding),
        "tuned": evaluate(cfg, tuned_path, examples, decoding),
    }
    metrics: dict = {"examples": len(examples), "decoding": decoding}
    for name, ev in evals.items():
        metrics[name] = {
            "val_loss": round(ev.val_loss, 4),
            "perplexity": round(math.exp(ev.val_loss), 2) if ev.val_loss < 50 else math.inf,
            **{k: round(v, 4) for k, v in text_metrics(ev.replies, reference, background).items()},
        }
    samples = [
        {
            "window": ex["input"],
            "real": ex["output"],
            "base": evals["base"].replies[i],
            "tuned": evals["tuned"].replies[i],
        }
        for i, ex in enumerate(examples)
    ]
    return EvalResult(metrics, samples)
