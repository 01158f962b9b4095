"""Stage `eval_text`: is the tuned model closer to the persona than the base model?

Both models see the same held-out validation windows (the latest sessions of each chat, never
trained on) through the same prompt code as training and serving, and decode with the same settings
and seeds. Measured per model (`metrics.json`, stable names):
- `val_loss` / `perplexity` of the persona's real replies (teacher-forced, reply tokens only);
- style fidelity of the generated replies against the real ones (`style_*`, see metrics.py);
- `assistant_tone_rate`, `leakage_rate` (placeholders or PII-shaped text), `distinct_1/2`,
  `degenerate_rate`, `mean_chars`.
`report.md` puts them in one table with side-by-side samples.

With a memory index (stage `memory`) and a question file, `metrics.json` also gets `memory`:
retrieval recall@k / MRR per retriever on the held-out questions, the tuned model's fact
consistency answering them with and without memory (same seeds), and its style metrics on the
validation windows with memory retrieved as the runtime would (never from the window's own
conversation), which must not be worse than without.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from pipelines import modeling
from pipelines.eval_text import memory as memory_eval
from pipelines.eval_text.metrics import text_metrics
from pipelines.sft import read_jsonl
from pipelines.stage import StageError, log
from runtime.generate import generate_replies
from runtime.memory import MemoryIndex, RetrievalSettings, fit_memory, query_of
from runtime.prompt import TARGET, encode_example, encode_prompt, stop_token_ids

MODELS = ("base", "tuned")


@dataclass
class ModelEval:
    val_loss: float
    replies: dict[str, list[str]]  # prompt set -> one reply per prompt


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


# Prompt sets named *_greedy decode greedily: whether memory grounds a reply, without sampling noise.
GREEDY = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}


@dataclass(frozen=True)
class Prompt:
    instruction: str
    window: str
    memory: tuple[str, ...] = ()


def evaluate(cfg: DictConfig, model_path: Path, examples: list[dict], decoding: dict,
             prompt_sets: dict[str, list[Prompt]]) -> ModelEval:  # fmt: skip
    """Validation loss on `examples` and sampled replies for every prompt set (same seed per set).
    Memory blocks are fitted to `memory.retrieval.max_tokens` in this model's tokens."""
    model_cfg = OmegaConf.merge(cfg.model, {"load_in_4bit": False})
    tokenizer = modeling.load_tokenizer(model_path, model_cfg)
    model = modeling.load_model(model_path, model_cfg).eval()
    stop_ids = stop_token_ids(tokenizer, modeling.generation_eos(model_path))
    loss = reply_loss(model, tokenizer, examples, cfg.model.max_length, stop_ids)
    budget = cfg.model.max_length - decoding.get("max_new_tokens", 128)

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    replies = {}
    for name, prompts in prompt_sets.items():
        settings = {**decoding, **(GREEDY if name.endswith("_greedy") else {})}
        memory_tokens = cfg.memory.retrieval.max_tokens
        ids = [
            encode_prompt(
                tokenizer,
                p.instruction,
                p.window,
                fit_memory(p.memory, memory_tokens, count),
                max_tokens=budget,
            ).ids
            for p in prompts
        ]
        replies[name] = generate_replies(
            model, tokenizer, ids, seed=cfg.eval_text.seed, batch_size=cfg.eval_text.batch_size, **settings
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


def evaluate_gguf(cfg: DictConfig, tuned_path: Path, prompts: list[Prompt], decoding: dict,
                  reference: list[str], background: list[str]) -> dict:  # fmt: skip
    """chat_export's files (llama.cpp) on the same validation prompts and decoding as the tuned
    model: the style and tone metrics of each quantization level, beside its perplexity. Empty when
    there is no export (eval_text.quantized)."""
    from transformers import AutoTokenizer

    from runtime.engines import LlamaCppEngine

    export = Path(cfg.eval_text.quantized)
    if not (export / "report.json").is_file():
        log.warning("eval_text: no chat_export report in %s; quantized files are not evaluated", export)
        return {}
    files = json.loads((export / "report.json").read_text(encoding="utf-8"))["files"]
    tokenizer = AutoTokenizer.from_pretrained(tuned_path)
    budget = cfg.model.max_length - decoding.get("max_new_tokens", 128)
    ids = [encode_prompt(tokenizer, p.instruction, p.window, max_tokens=budget).ids for p in prompts]
    out = {}
    for name, f in files.items():
        engine = LlamaCppEngine(export / name, tokenizer, decoding, n_ctx=cfg.model.max_length)
        replies = [engine.reply(x, cfg.eval_text.seed + i) for i, x in enumerate(ids)]
        metrics = text_metrics(replies, reference, background)
        out[f["level"]] = {
            "file": name, "perplexity": f["perplexity"], "perplexity_change": f["perplexity_change"],
            **{k: round(v, 4) for k, v in metrics.items()},
        }  # fmt: skip
        del engine
    return out


@dataclass
class EvalResult:
    metrics: dict  # {"base": {...}, "tuned": {...}, "examples": n, "decoding": {...}}
    samples: list[dict]  # window, real reply, base reply, tuned reply (and tuned with memory)
    memory_samples: list[dict] = field(default_factory=list)  # questions: memory, replies without/with


def others_lines(examples: list[dict]) -> list[str]:
    """What the other people in the chats write (window lines not by the persona), each line once."""
    lines = {line for ex in examples for line in ex["input"].split("\n") if not line.startswith(TARGET)}
    return sorted(line.split(": ", 1)[-1] for line in lines)


def run(cfg: DictConfig, base_path: Path, tuned_path: Path) -> EvalResult:
    examples = read_jsonl(Path(cfg.eval_text.input) / "val.jsonl")[: cfg.eval_text.max_examples]
    reference = [ex["output"] for ex in examples]
    background = others_lines(read_jsonl(Path(cfg.eval_text.input) / "train.jsonl"))
    decoding = decoding_settings(cfg, tuned_path)
    val = [Prompt(ex["instruction"], ex["input"]) for ex in examples]
    mem = MemoryCheck.prepare(cfg, examples)
    evals = {
        "base": evaluate(cfg, base_path, examples, decoding, {"val": val}),
        "tuned": evaluate(
            cfg, tuned_path, examples, decoding, {"val": val, **(mem.prompt_sets if mem else {})}
        ),
    }
    metrics: dict = {"examples": len(examples), "decoding": decoding}
    for name, ev in evals.items():
        metrics[name] = {
            "val_loss": round(ev.val_loss, 4),
            "perplexity": round(math.exp(ev.val_loss), 2) if ev.val_loss < 50 else math.inf,
            **{k: round(v, 4) for k, v in text_metrics(ev.replies["val"], reference, background).items()},
        }
    if quantized := evaluate_gguf(cfg, tuned_path, val, decoding, reference, background):
        metrics["quantized"] = quantized
    samples = [
        {
            "window": ex["input"],
            "real": ex["output"],
            "base": evals["base"].replies["val"][i],
            "tuned": evals["tuned"].replies["val"][i],
        }
        for i, ex in enumerate(examples)
    ]
    if mem:
        metrics["memory"] = mem.metrics(evals["tuned"].replies, reference, background, metrics["tuned"])
        for i, sample in enumerate(samples):
            sample["tuned_with_memory"] = evals["tuned"].replies["val_memory"][i]
            sample["memory_ids"] = mem.val_ids[i]
        return EvalResult(metrics, samples, mem.question_samples(evals["tuned"].replies))
    return EvalResult(metrics, samples)


@dataclass
class MemoryCheck:
    """The memory part of the evaluation: questions, their retrieved memory, validation windows with
    memory, and the retrieval scores (computed once, without the chat model)."""

    questions: list[memory_eval.Question]
    question_memory: list[list]  # hits per question
    val_memory: list[list]  # hits per validation example
    val: list[Prompt]
    retrieval: dict
    settings: RetrievalSettings

    @classmethod
    def prepare(cls, cfg: DictConfig, examples: list[dict]) -> MemoryCheck | None:
        index_dir = Path(cfg.memory.output) / "index"
        qpath = Path(cfg.eval_text.memory_questions)
        if not (index_dir / "index.json").is_file():
            log.warning("eval_text: no memory index at %s; memory is not evaluated", index_dir)
            return None
        if not qpath.is_file():
            log.warning("eval_text: no question file at %s; memory is not evaluated (see conf/demo_data "
                        "for its format)", qpath)  # fmt: skip
            return None
        try:
            questions = memory_eval.read_questions(qpath)
        except ValueError as e:
            raise StageError(str(e)) from None
        settings = RetrievalSettings.from_dict(OmegaConf.to_container(cfg.memory.retrieval, resolve=True))
        index = MemoryIndex.load(index_dir)
        search = {
            "candidates": settings.candidates,
            "rrf_k": settings.rrf_k,
            "min_similarity": settings.min_similarity,
            "dense_for_chinese": settings.dense_for_chinese,
        }
        retrieval = memory_eval.retrieval_metrics(index, questions, settings.query_messages,
                                                  ("lexical", "dense", "hybrid"), **search)  # fmt: skip

        def recall(window: str, **where) -> list:
            return index.search(query_of(window, settings.query_messages), settings.k, settings.mode,
                                **search, **where)  # fmt: skip

        question_memory = [recall(q.window) for q in questions]
        # A validation window must not find its own conversation (or anything later) in memory.
        val_memory = [recall(ex["input"], exclude_session=ex.get("session"), before_ts=ex.get("ts"))
                      for ex in examples]  # fmt: skip
        val = [Prompt(ex["instruction"], ex["input"], tuple(h.snippet.prompt_text for h in hits))
               for ex, hits in zip(examples, val_memory, strict=True)]  # fmt: skip
        return cls(questions, question_memory, val_memory, val, retrieval, settings)

    @property
    def val_ids(self) -> list[list[str]]:
        return [[h.snippet.id for h in hits] for hits in self.val_memory]

    @property
    def prompt_sets(self) -> dict[str, list[Prompt]]:
        instruction = self.val[0].instruction if self.val else ""
        without = [Prompt(instruction, q.window) for q in self.questions]
        with_memory = [
            Prompt(instruction, q.window, tuple(h.snippet.prompt_text for h in hits))
            for q, hits in zip(self.questions, self.question_memory, strict=True)
        ]
        return {
            "val_memory": self.val,
            "questions": without,
            "questions_memory": with_memory,
            "questions_greedy": without,
            "questions_memory_greedy": with_memory,
        }

    def metrics(self, replies: dict, reference: list[str], background: list[str], tuned: dict) -> dict:
        with_memory = {
            k: round(v, 4) for k, v in text_metrics(replies["val_memory"], reference, background).items()
        }
        return {
            "questions": len(self.questions),
            "retrieval": self.retrieval,
            "fact_consistency": {  # sampled with the reference decoding, and greedy
                "without_memory": memory_eval.fact_consistency(replies["questions"], self.questions),
                "with_memory": memory_eval.fact_consistency(replies["questions_memory"], self.questions),
                "greedy_without_memory": memory_eval.fact_consistency(
                    replies["questions_greedy"], self.questions
                ),
                "greedy_with_memory": memory_eval.fact_consistency(
                    replies["questions_memory_greedy"], self.questions
                ),
            },
            "style_with_memory": with_memory,
            "style_score_change": round(with_memory["style_score"] - tuned["style_score"], 4),
            "settings": {
                "k": self.settings.k,
                "mode": self.settings.mode,
                "max_tokens": self.settings.max_tokens,
            },
        }

    def question_samples(self, replies: dict) -> list[dict]:
        return [
            {
                "question": q.question,
                "answers": q.answers,
                "memory": [h.snippet.prompt_text for h in hits],
                "memory_ids": [h.snippet.id for h in hits],
                "without_memory": replies["questions"][i],
                "with_memory": replies["questions_memory"][i],
                "greedy_with_memory": replies["questions_memory_greedy"][i],
            }
            for i, (q, hits) in enumerate(zip(self.questions, self.question_memory, strict=True))
        ]
