"""`python -m pipelines.demo_data [overrides]`: write the fictional demo exports to
`demo_data.output` (the raw chats folder), replacing the folder as a whole, and the held-out
memory questions to `demo_data.questions`."""

from __future__ import annotations

from pathlib import Path

from pipelines import stage
from pipelines.atomic import atomic_path, write_jsonl
from pipelines.demo_data import generate

# A hidden file (ingest skips hidden files) that marks the folder as ours to replace.
MARKER = ".demo_data"


def main(argv: list[str] | None = None) -> None:
    cfg = stage.load_config("demo_data", argv)
    out = Path(cfg.demo_data.output)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        # Raw data is immutable: never overwrite exports the user put there.
        raise stage.StageError(
            f"{out} already holds files that demo_data did not write; it will not replace them. "
            "Move them, or point demo_data.output (or paths.data) elsewhere."
        )
    export = generate(cfg)
    with atomic_path(out) as tmp:
        for rel, data in export.files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (tmp / MARKER).write_text(
            f"Fictional demo exports written by `python -m pipelines.demo_data` (seed {cfg.demo_data.seed}); "
            "rerunning replaces this folder.\n",
            encoding="utf-8",
        )
    write_jsonl(cfg.demo_data.questions, export.truth.memory_questions)
    counts = export.truth.counts
    stage.log.info(
        "demo_data: %d messages (%d rows in %d files, %d overlapping) -> %s",
        counts["messages"],
        counts["rows_written"],
        len(export.files),
        counts["family_overlap"],
        out,
    )


if __name__ == "__main__":
    stage.entrypoint(main)
