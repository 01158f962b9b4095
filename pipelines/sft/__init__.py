"""Stage `sft`: LoRA fine-tuning of the base chat model on the persona's replies (trl + peft).

    python -m pipelines.sft                                   # one device: the GPU if any, else CPU
    python -m pipelines.sft sft.launch.num_processes=4        # re-runs itself under `accelerate launch`
    dvc exp run -S sft.learning_rate=5e-4 -S sft.max_steps=null

Examples are tokenized by `runtime.prompt.encode_example`: the base model's chat template applied to
exactly the prompt the runtime builds, loss on the reply tokens only (with the end-of-turn token, so
the model learns to stop). Checkpoints go to `<output>/checkpoints`; a rerun with the same config,
data and base model resumes from the newest complete one, anything else starts over. The adapter,
the resolved config and a summary land in `<output>/adapter`; loss curves in `<output>/dvclive`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pipelines import modeling, stage
from pipelines.atomic import atomic_path, write_json, write_text
from pipelines.stage import StageError
from runtime.memory import fit_memory
from runtime.prompt import PROMPT_FORMAT_VERSION, encode_example, stop_token_ids

log = logging.getLogger("still.sft")

CHECKPOINT_PREFIX = "checkpoint-"
RUN_KEY = "run_key.txt"  # beside the checkpoints: which config/data/base they belong to
CONFIG_FILE = "still_sft.yaml"
SUMMARY_FILE = "train_summary.json"


# ---- data ----


def read_jsonl(path: Path) -> list[dict]:
    """sft_data's Alpaca rows, each checked for the fields training needs."""
    rows = stage.read_jsonl(path, "sft_data")
    for n, row in enumerate(rows, 1):
        missing = {"instruction", "input", "output"} - set(row)
        if missing:
            raise StageError(f"{path} row {n}: no {sorted(missing)}; rebuild it with sft_data")
    return rows


@dataclass
class EncodedSplit:
    rows: list[dict]  # {"input_ids", "completion_mask"} ready for SFTTrainer
    dropped: Counter = field(default_factory=Counter)
    trimmed: int = 0  # examples whose oldest window lines were dropped to fit max_length


def encode_split(examples: Sequence[dict], tokenizer, max_length: int, stop_ids: set[int],
                 memory_tokens: int = 0) -> EncodedSplit:  # fmt: skip
    """Token ids and reply masks; retrieved memory (field `memory`) fitted to `memory_tokens` as the
    runtime fits it."""

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    out = EncodedSplit([])
    for ex in examples:
        memory = fit_memory(ex.get("memory", ()), memory_tokens, count)
        enc = encode_example(
            tokenizer, ex["instruction"], ex["input"], ex["output"], max_length, memory, stop_ids=stop_ids
        )
        if enc is None:
            out.dropped["reply_longer_than_max_length"] += 1
            continue
        out.trimmed += enc.window_lines < ex["input"].count("\n") + 1
        out.rows.append({"input_ids": enc.input_ids, "completion_mask": enc.completion_mask})
    return out


# ---- configuration of the trainer ----


def lora_config(model_cfg: DictConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=model_cfg.lora.r,
        lora_alpha=model_cfg.lora.alpha,
        lora_dropout=model_cfg.lora.dropout,
        target_modules=list(model_cfg.lora.target_modules),
        task_type="CAUSAL_LM",
    )


def check_batching(cfg: DictConfig) -> None:
    """Packing / padding-free put several examples in one row; with SDPA or eager attention they
    would attend to each other. Refuse instead of training on cross-contaminated examples."""
    if (cfg.sft.packing or cfg.sft.padding_free) and cfg.model.attn_implementation != "flash_attention_2":
        raise StageError(
            "sft.packing / sft.padding_free need model.attn_implementation=flash_attention_2 (install "
            "flash-attn on a CUDA machine); with other attention, examples in one row would see each other. "
            "Use sft.group_by_length=true to cut padding instead."
        )


def training_args(cfg: DictConfig, checkpoints: Path, has_eval: bool):
    from trl import SFTConfig

    s, cuda = cfg.sft, modeling.device().type == "cuda"
    dtype = modeling.compute_dtype(cfg.model)
    return SFTConfig(
        output_dir=str(checkpoints),
        seed=s.seed,
        data_seed=s.seed,
        num_train_epochs=s.epochs,
        max_steps=s.max_steps if s.max_steps else -1,
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size,
        gradient_accumulation_steps=s.gradient_accumulation,
        learning_rate=s.learning_rate,
        lr_scheduler_type=s.lr_scheduler,
        warmup_ratio=s.warmup_ratio,
        weight_decay=s.weight_decay,
        max_grad_norm=s.max_grad_norm,
        bf16=cuda and dtype == modeling.torch.bfloat16,
        fp16=cuda and dtype == modeling.torch.float16,
        use_cpu=not cuda,
        gradient_checkpointing=cfg.model.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        group_by_length=s.group_by_length,
        packing=s.packing,
        padding_free=s.padding_free,
        max_length=cfg.model.max_length,
        completion_only_loss=True,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=s.eval_steps,
        save_strategy="steps",
        save_steps=s.save_steps,
        save_total_limit=2,
        logging_steps=s.logging_steps,
        include_num_input_tokens_seen="non_padding",
        report_to=[],  # metrics go to dvclive through LiveMetrics below
        disable_tqdm=not s.progress,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
    )


# ---- resuming ----


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_key(cfg: DictConfig, data_files: Sequence[Path], base_fingerprint: dict) -> str:
    """What a checkpoint belongs to: anything that changes the training run changes this key.
    `launch` and `progress` do not: resuming on another number of GPUs is fine."""
    sft = {
        k: v
        for k, v in OmegaConf.to_container(cfg.sft, resolve=True).items()
        if k not in ("launch", "progress")
    }
    basis = {
        "sft": sft,
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "data": {p.name: file_sha256(p) for p in data_files},
        "base": base_fingerprint,
        "prompt_format": PROMPT_FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def checkpoint_step(path: Path) -> int | None:
    step = path.name.removeprefix(CHECKPOINT_PREFIX)
    return int(step) if path.name.startswith(CHECKPOINT_PREFIX) and step.isdigit() else None


def complete_checkpoints(checkpoints: Path) -> list[Path]:
    """Checkpoints that were fully written (trainer_state.json is saved last), oldest first."""
    found = sorted((p for p in checkpoints.iterdir() if checkpoint_step(p) is not None), key=checkpoint_step)
    return [p for p in found if (p / "trainer_state.json").exists()]


def resume_point(checkpoints: Path, key: str) -> Path | None:
    """The checkpoint to resume from, or None after clearing checkpoints of another run."""
    key_file = checkpoints / RUN_KEY
    if key_file.exists() and key_file.read_text().strip() == key:
        done = complete_checkpoints(checkpoints)
        for partial in set(checkpoints.glob(f"{CHECKPOINT_PREFIX}*")) - set(done):
            log.warning("sft: removing incomplete checkpoint %s (killed while saving)", partial.name)
            shutil.rmtree(partial)
        if done:
            return done[-1]
    elif checkpoints.exists():
        log.info("sft: checkpoints in %s belong to another config/data; starting over", checkpoints)
    shutil.rmtree(checkpoints, ignore_errors=True)
    checkpoints.mkdir(parents=True)
    key_file.write_text(key + "\n")
    return None


# ---- metrics ----


def live_metrics_callback(live_dir: Path, resume: bool):
    """Train/val loss curves for DVC (dvclive), indexed by optimizer step so a resumed run continues
    the same curve."""
    from dvclive import Live
    from transformers import TrainerCallback

    names = {
        "loss": "train/loss",
        "learning_rate": "train/learning_rate",
        "grad_norm": "train/grad_norm",
        "mean_token_accuracy": "train/token_accuracy",
        "eval_loss": "eval/loss",
        "eval_mean_token_accuracy": "eval/token_accuracy",
    }

    class LiveMetrics(TrainerCallback):
        def __init__(self):
            self.live = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                # dvcyaml=None: dvc.yaml declares the metrics and plots; dvclive must not edit it
                live = {"dvcyaml": None, "save_dvc_exp": False, "report": None, "monitor_system": False}
                self.live = Live(str(live_dir), resume=resume, **live)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.live is None or not logs:
                return
            self.live.step = state.global_step
            for key, name in names.items():
                if key in logs:
                    self.live.log_metric(name, float(logs[key]))
            self.live.make_summary()

        def on_train_end(self, args, state, control, **kwargs):
            if self.live is not None:
                self.live.end()

    return LiveMetrics()


# ---- the stage ----


def recipe(cfg: DictConfig) -> DictConfig:
    """The config that made an adapter, saved beside it: model, data format and training settings.
    Never the subject or anonymize groups (names of real people live there)."""
    keep = {k: cfg[k] for k in ("model", "sft_data", "sft")}
    out = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(keep), resolve=False))
    for group, node in keep.items():  # resolve against the full config, then drop the paths
        out[group] = OmegaConf.to_container(node, resolve=True)
    for group in ("sft_data", "sft"):
        out[group].pop("input", None)
        out[group].pop("output", None)
    return out


def run(
    cfg: DictConfig, base_path: Path, base_fingerprint: dict, out: Path, callbacks: Sequence = ()
) -> dict:
    """Train the LoRA adapter; writes `<out>/adapter` (adapter + resolved config + summary) and
    returns the summary. `callbacks` are extra transformers TrainerCallbacks (tests use one)."""
    from datasets import Dataset
    from trl import SFTTrainer

    check_batching(cfg)
    data_dir = Path(cfg.sft.input)
    train_file, val_file = data_dir / "train.jsonl", data_dir / "val.jsonl"
    for f in (train_file, val_file):
        if not f.exists():
            raise StageError(f"{f} not found: run the sft_data stage first (dvc repro sft_data)")

    tokenizer = modeling.load_tokenizer(base_path, cfg.model)
    stop_ids = stop_token_ids(tokenizer, modeling.generation_eos(base_path))
    max_length = cfg.model.max_length
    train_rows = read_jsonl(train_file)
    instructions = {r["instruction"] for r in train_rows}
    if len(instructions) != 1:  # the runtime prompts with one instruction: train with exactly that one
        raise StageError(f"{train_file}: {len(instructions)} instructions, not one; rebuild with sft_data")
    memory_tokens = cfg.memory.retrieval.max_tokens  # memory blocks as the runtime fits them
    train = encode_split(train_rows, tokenizer, max_length, stop_ids, memory_tokens)
    val_rows = read_jsonl(val_file)[: cfg.sft.max_eval_examples]
    val = encode_split(val_rows, tokenizer, max_length, stop_ids, memory_tokens)
    if not train.rows:
        raise StageError(f"{train_file}: no example fits model.max_length={cfg.model.max_length}; raise it")
    log.info("sft: %d train / %d val examples", len(train.rows), len(val.rows))
    log.info("sft: %d windows trimmed to fit, dropped %s", train.trimmed, dict(train.dropped))

    checkpoints, live_dir = out / "checkpoints", out / "dvclive"
    resume_from = resume_point(checkpoints, run_key(cfg, [train_file, val_file], base_fingerprint))
    if resume_from is None:
        shutil.rmtree(live_dir, ignore_errors=True)
    else:
        log.info("sft: resuming from %s", resume_from.name)

    trainer = SFTTrainer(
        model=modeling.load_model(base_path, cfg.model, for_training=True),
        args=training_args(cfg, checkpoints, has_eval=bool(val.rows)),
        train_dataset=Dataset.from_list(train.rows),
        eval_dataset=Dataset.from_list(val.rows) if val.rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(cfg.model),
        callbacks=[live_metrics_callback(live_dir, resume=resume_from is not None), *callbacks],
    )
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    final_eval = trainer.evaluate() if val.rows else {}

    summary = {
        "base_model": cfg.model.name,
        "prompt_format_version": PROMPT_FORMAT_VERSION,
        "instruction": instructions.pop(),
        "examples": {
            "train": len(train.rows),
            "val": len(val.rows),
            "trimmed_to_fit": train.trimmed,
            "dropped": dict(train.dropped + val.dropped),
        },
        "steps": trainer.state.global_step,
        "resumed_from_step": checkpoint_step(resume_from) if resume_from else 0,
        "train_loss": round(result.training_loss, 4),
        "val_loss": round(final_eval["eval_loss"], 4) if final_eval else None,
        "train_tokens": int(trainer.state.num_input_tokens_seen or 0) or None,
        "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 1),
        "device": modeling.device().type,
    }
    if trainer.is_world_process_zero():
        with atomic_path(out / "adapter") as adapter:
            trainer.save_model(str(adapter))
            write_text(adapter / CONFIG_FILE, OmegaConf.to_yaml(recipe(cfg)))
            write_json(adapter / SUMMARY_FILE, summary)
        if not cfg.sft.keep_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)
    return summary
