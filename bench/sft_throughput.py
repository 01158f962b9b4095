"""Benchmark: LoRA training throughput and padding of our sft setup vs a plain default SFTTrainer.

    OMP_NUM_THREADS=2 python bench/sft_throughput.py [--steps 8] [--data data/processed/sft_data]
        [--model data/models/base_model]

Both train the same LoRA (conf/model/smollm2_135m.yaml) on the same demo train.jsonl, batch 8, on
this machine, in the same run:
- ours: examples pre-encoded by runtime.prompt.encode_example (windows trimmed to model.max_length),
  reply-only loss, batches grouped by length (sft.group_by_length);
- plain: the documented default — prompt/completion conversations handed to SFTTrainer with default
  SFTConfig (max_length 1024, random batches padded to the longest example).
Reported: padding share over one whole epoch of batches (exact, from the collated attention masks),
and real (non-padding) training tokens/s over `--steps` optimizer steps, as a ratio ours/plain.
Needs the demo's sft_data and base_model outputs (`dvc repro base_model sft_data`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines import modeling, sft  # noqa: E402
from pipelines.stage import compose_config  # noqa: E402
from runtime.prompt import chat_messages, stop_token_ids  # noqa: E402


def trainer_for(cfg, base: Path, dataset, args_overrides: dict):
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(REPO / "bench/out/sft_throughput"),
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        logging_steps=1000,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        data_seed=0,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        **args_overrides,
    )
    model = modeling.load_model(base, cfg.model, for_training=True)
    tokenizer = modeling.load_tokenizer(base, cfg.model)
    return SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
        peft_config=sft.lora_config(cfg.model),
    )  # fmt: skip


def padding_share(trainer) -> tuple[float, int]:
    """Share of padding positions over one epoch of collated batches, and the real tokens in it."""
    real = total = 0
    for batch in trainer.get_train_dataloader():
        mask = batch["attention_mask"]
        real += int(mask.sum())
        total += mask.numel()
    return 1 - real / total, real


def measure(name: str, trainer, steps: int) -> dict:
    share, epoch_tokens = padding_share(trainer)
    trainer.args.max_steps = steps
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    tokens = int(trainer.state.num_input_tokens_seen)
    result = {"setup": name, "padding_share": round(share, 3), "epoch_real_tokens": epoch_tokens,
              "steps": steps, "real_tokens": tokens, "seconds": round(seconds, 1),
              "tokens_per_s": round(tokens / seconds, 1)}  # fmt: skip
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--data", type=Path, default=REPO / "data/processed/sft_data")
    parser.add_argument("--model", type=Path, default=REPO / "data/models/base_model")
    a = parser.parse_args()
    from datasets import Dataset

    cfg = compose_config([])
    rows = sft.read_jsonl(a.data / "train.jsonl")
    tokenizer = modeling.load_tokenizer(a.model, cfg.model)
    stops = stop_token_ids(tokenizer, modeling.generation_eos(a.model))

    ours_data = Dataset.from_list(sft.encode_split(rows, tokenizer, cfg.model.max_length, stops).rows)
    ours = trainer_for(cfg, a.model, ours_data, {"group_by_length": True, "max_length": cfg.model.max_length,
                                                 "completion_only_loss": True})  # fmt: skip
    plain_data = Dataset.from_list(
        [{"prompt": chat_messages(r["instruction"], r["input"]), "completion": [
            {"role": "assistant", "content": r["output"]}]} for r in rows]
    )  # fmt: skip
    plain = trainer_for(cfg, a.model, plain_data, {})

    print(f"torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')}, {len(rows)} examples, "
          f"model {cfg.model.name}", flush=True)  # fmt: skip
    # Back to back in one process: same machine state for both (still noisy: compare ratios only).
    p = measure("plain", plain, a.steps)
    o = measure("ours", ours, a.steps)
    print(f"\npadding share: plain {p['padding_share']:.1%}, ours {o['padding_share']:.1%}")
    print(f"real tokens/s: plain {p['tokens_per_s']}, ours {o['tokens_per_s']} "
          f"(ratio ours/plain {o['tokens_per_s'] / p['tokens_per_s']:.2f}x)")  # fmt: skip
    print(f"tokens per epoch: plain {p['epoch_real_tokens']}, ours {o['epoch_real_tokens']}")


if __name__ == "__main__":
    main()
