"""`python -m pipelines.memory [overrides]`: write the memory index folder (runtime/memory.py format,
with the encoder copied in for dense retrieval), report.json and metrics.json."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from pipelines import memory, stage
from pipelines.atomic import atomic_path, write_json
from runtime.memory import EMBEDDER, write_index

# What a sentence-transformers folder needs at inference (no README, no training leftovers).
ENCODER_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "sentencepiece.bpe.model",
)


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("memory", argv)
    src = Path(cfg.memory.input) / "messages.parquet"
    if not src.exists():
        raise stage.StageError(
            f"{src} not found: run the anonymize stage first (python -m pipelines.anonymize)"
        )
    mapping_file = Path(cfg.anonymize.mapping)
    if not mapping_file.is_file():
        raise stage.StageError(f"{mapping_file} not found: run the anonymize stage first")
    mapping = json.loads(mapping_file.read_text(encoding="utf-8"))
    started = time.perf_counter()
    build = memory.run(cfg, pd.read_parquet(src), mapping)
    embedder = memory.choose_embedder(cfg, build.snippets)
    folder = memory.embedder_folder(cfg, embedder["used"])
    vectors = lines = None
    if folder and build.snippets:
        vectors, lines = memory.embed(folder, build.snippets, cfg.memory.embedder.batch_size)
    out = Path(cfg.memory.output)
    index_dir = out / "index"
    with atomic_path(index_dir) as tmp:
        meta = {
            "embedder": None
            if vectors is None
            else {"source": embedder["used"], "dim": int(vectors.shape[1])},
            "retrieval": OmegaConf.to_container(cfg.memory.retrieval, resolve=True),
        }
        info = write_index(tmp, build.snippets, vectors, meta, cfg.memory.bm25.k1, cfg.memory.bm25.b, lines)
        if vectors is not None:
            (tmp / EMBEDDER).mkdir()
            for name in ENCODER_FILES:
                if (folder / name).is_file():
                    shutil.copy2(folder / name, tmp / EMBEDDER / name)
    size = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    report = {
        **build.report,
        "index": {**info, "bytes": size},
        "embedder": embedder,
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    write_json(out / "report.json", report)
    write_json(
        out / "metrics.json",
        {
            "snippets": len(build.snippets),
            "chats": len(build.report["chats_included"]),
            "vocabulary": info["vocabulary"],
            "index_mb": round(size / 2**20, 2),
        },
    )
    stage.log.info(
        "memory: %d snippets from %d chats (%s), %.1f MB -> %s",
        len(build.snippets),
        len(build.report["chats_included"]),
        "hybrid" if vectors is not None else "lexical only",
        size / 2**20,
        index_dir,
    )
    if not build.snippets:
        stage.log.warning("memory: nothing to remember (report.json says what was left out and why)")


if __name__ == "__main__":
    stage.entrypoint(main)
