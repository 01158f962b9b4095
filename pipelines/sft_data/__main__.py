"""`python -m pipelines.sft_data [overrides]`: write train/val JSONL, ShareGPT and stats."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipelines import stage
from pipelines.atomic import write_json, write_jsonl
from pipelines.sft_data import run
from runtime.memory import MemoryIndex


def dataset_info(sharegpt: bool) -> dict:
    """LLaMA-Factory's dataset registry, so that ecosystem can train on these files directly."""
    alpaca = {"columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    info = {
        "still_persona": {"file_name": "train.jsonl", **alpaca},
        "still_persona_val": {"file_name": "val.jsonl", **alpaca},
    }
    if sharegpt:
        sg = {"formatting": "sharegpt", "columns": {"messages": "conversations", "system": "system"}}
        info["still_persona_sharegpt"] = {"file_name": "sharegpt_train.json", **sg}
        info["still_persona_sharegpt_val"] = {"file_name": "sharegpt_val.json", **sg}
    return info


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("sft_data", argv)
    src = Path(cfg.sft_data.input) / "messages.parquet"
    if not src.exists():
        raise stage.StageError(
            f"{src} not found: run the anonymize stage first (python -m pipelines.anonymize)"
        )
    memory = None
    if cfg.sft_data.memory.fraction > 0:
        index = Path(cfg.sft_data.memory.index) / "index"
        if not (index / "index.json").is_file():
            raise stage.StageError(f"{index}/index.json not found: run the memory stage first (python -m "
                                   "pipelines.memory), or set sft_data.memory.fraction=0")  # fmt: skip
        memory = MemoryIndex.load(index)
    data = run(cfg, pd.read_parquet(src), memory)
    if not data.train:
        raise stage.StageError(
            f"no training examples from {src}: {json.dumps(data.stats['dropped'])} — check that the "
            "subject sends text replies in conf/subject.yaml's chats, or loosen conf/sft_data filters"
        )
    out = Path(cfg.sft_data.output)
    write_jsonl(out / "train.jsonl", data.train)
    write_jsonl(out / "val.jsonl", data.val)
    if cfg.sft_data.sharegpt:
        write_json(out / "sharegpt_train.json", data.sharegpt_train)
        write_json(out / "sharegpt_val.json", data.sharegpt_val)
    write_json(out / "dataset_info.json", dataset_info(cfg.sft_data.sharegpt))
    write_json(out / "stats.json", data.stats)
    with_memory = data.stats["with_memory"]
    stage.log.info(
        "sft_data: %d train / %d val examples (%d / %d with memory) -> %s",
        len(data.train), len(data.val), with_memory["train"], with_memory["val"], out,
    )  # fmt: skip


if __name__ == "__main__":
    stage.entrypoint(main)
